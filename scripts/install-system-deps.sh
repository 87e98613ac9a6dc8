#!/usr/bin/env bash
# Debian packages the tests and benchmarks use: etcd (multi-node rendezvous), PyTorch (torchrun/gloo
# peers for the benchmarks and the PyTorch-under-eh test), and a C compiler and make for the
# shared-memory add-on that npm ci builds with node-gyp, SLURM and munge for the launcher test. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
# A one-node SLURM cluster for the launcher's integration test (test/helpers/slurm.ts).
command -v slurmctld >/dev/null 2>&1 || need+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || need+=(munge)
# Headless Chromium for the dashboard's browser test (driven by playwright-core, never downloaded).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
