#!/usr/bin/python3
"""The recovery benchmark's PyTorch side, run under torchrun: a small MLP in DDP on gloo, a checkpoint
after every step (torch.save to a temporary file, then rename), resumed from after a restart. Each
completed step is logged as `rank step epochMs restartCount` to $PROGRESS; stops when $STOP_FILE exists."""
import os, time
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

rank = int(os.environ['RANK'])
restart = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
d = os.environ['CKPT_DIR']
progress = os.environ['PROGRESS']
stop_file = os.environ['STOP_FILE']
with open(os.path.join(d, 'pid-rank%d-r%s' % (rank, restart)), 'w') as f:
    f.write(str(os.getpid()))
dist.init_process_group('gloo')
torch.manual_seed(42)
IN, HID, OUT, BATCH = 64, 128, 10, 64
model = DDP(torch.nn.Sequential(torch.nn.Linear(IN, HID), torch.nn.ReLU(), torch.nn.Linear(HID, OUT)))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
g = torch.Generator().manual_seed(42)
x = torch.rand(BATCH, IN, generator=g) - 0.5
teacher = torch.rand(IN, OUT, generator=g) - 0.5
y = (x @ teacher).argmax(dim=1)
ckpt = os.path.join(d, 'rank%d.pt' % rank)
# DDP keeps the ranks' weights identical, so any rank's checkpoint is the job's; a SIGKILL can leave
# ranks one step apart, so every rank resumes from the newest checkpoint of any rank.
step = 0
best = None
for r in range(int(os.environ['WORLD_SIZE'])):
    p = os.path.join(d, 'rank%d.pt' % r)
    if os.path.exists(p):
        s = torch.load(p)
        if best is None or s['step'] > best['step']:
            best = s
if best is not None:
    model.module.load_state_dict(best['model'])
    opt.load_state_dict(best['opt'])
    step = best['step']
while True:
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    step += 1
    torch.save({'model': model.module.state_dict(), 'opt': opt.state_dict(), 'step': step}, ckpt + '.tmp')
    os.replace(ckpt + '.tmp', ckpt)
    with open(progress, 'a') as f:
        f.write('%d %d %d %s\n' % (rank, step, int(time.time() * 1000), restart))
    # Every rank stops after the same step: the stop request is agreed with an allreduce.
    flag = torch.tensor([1.0 if os.path.exists(stop_file) else 0.0])
    dist.all_reduce(flag)
    if flag.item() > 0:
        break
dist.destroy_process_group()
