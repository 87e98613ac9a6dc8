"""PyTorch gloo allreduce, timed the same way as bench/allreduce.ts (warm-up, then the median over
iterations of the slowest rank's time, each iteration after a barrier). Prints one JSON line.

Usage: /usr/bin/python3 bench/gloo_allreduce.py --world 2 --sizes-mib 1,16,64 --iters 10 --warmup 3
All ranks on this host (spawned here), or one rank per process, e.g. one per network namespace
(rank 0 prints the line; set GLOO_SOCKET_IFNAME to the interface between the hosts):
       /usr/bin/python3 bench/gloo_allreduce.py --world 2 --rank R --master-addr 10.213.0.2 --master-port 29500 ...
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def worker(rank, world, port, sizes_mib, iters, warmup, queue, addr="127.0.0.1"):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = addr
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = []
    for mib in sizes_mib:
        n = mib * (1 << 20) // 4
        t = torch.ones(n, dtype=torch.float32)
        times = []
        for it in range(warmup + iters):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            dt = time.perf_counter() - t0
            slowest = torch.tensor([dt], dtype=torch.float64)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
            if it >= warmup:
                times.append(slowest.item())
        results.append({"mib": mib, "median_s": statistics.median(times), "times": times})
    if rank == 0 and queue is not None:
        queue.put(results)
    elif rank == 0:
        print(json.dumps({"world": world, "torch": torch.__version__, "results": results}))
        sys.stdout.flush()
    dist.barrier()
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--sizes-mib", default="1,16,64")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rank", type=int, default=-1)
    ap.add_argument("--master-addr", default="127.0.0.1")
    ap.add_argument("--master-port", type=int, default=29500)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes_mib.split(",")]
    if a.rank >= 0:
        worker(a.rank, a.world, a.master_port, sizes, a.iters, a.warmup, None, a.master_addr)
        return
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.spawn(worker, args=(a.world, free_port(), sizes, a.iters, a.warmup, queue), nprocs=a.world, join=True)
    print(json.dumps({"world": a.world, "torch": torch.__version__, "results": queue.get()}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
