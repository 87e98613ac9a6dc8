"""Reference for bench/checkpoint.ts: durable torch.save of a state of the same size (fsync before the clock stops).

usage: /usr/bin/python3 bench/torch_save.py DIR MIB REPEATS  -> prints {"seconds": [...], "bytes": N} as JSON
"""
import json
import os
import sys
import time

import torch

out_dir, mib, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# A third parameters, a third each Adam moment, as in the TypeScript benchmark.
per_part = mib * 1024 * 1024 // 3 // 4
layers = 8
n = per_part // layers
gen = torch.Generator().manual_seed(0)
state = {
    "model": {f"layer{i}.weight": torch.rand(n, generator=gen) for i in range(layers)},
    "optimizer": {
        "exp_avg": {f"layer{i}": torch.rand(n, generator=gen) for i in range(layers)},
        "exp_avg_sq": {f"layer{i}": torch.rand(n, generator=gen) for i in range(layers)},
    },
    "step": 1000,
}
seconds = []
path = os.path.join(out_dir, "torch_state.pt")
for _ in range(repeats):
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    seconds.append(time.perf_counter() - t0)
    size = os.path.getsize(path)
    os.remove(path)
    os.sync()  # the filesystem may discard the freed blocks at the next commit: not the next save's cost
print(json.dumps({"seconds": seconds, "bytes": size}))
