/**
 * Local checkpoint benchmark: the 384 MiB state of bench/checkpoint.ts (128 MiB of parameters plus two Adam
 * moments) as each rank's part, on 2 real ranks (a TCP store, a process group over Unix sockets), saved with
 * LocalCheckpointManager durably (fsync) without replication and with CliqueReplicationStrategy (factor 2: each
 * rank also receives and writes its peer's part). Times are the slower rank's, median of the repeats.
 *
 *   node --import tsx bench/local-checkpoint.ts [--mib 384] [--repeats 3] [--dir DIR]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BasicTensorAwareStateDict, CliqueReplicationStrategy, LocalCheckpointManager, type StateDict } from '../src/checkpoint/index.js';
import { cleanupDistributed, getProcessGroup, setupDistributedEnvironment } from '../src/collective/index.js';
import { TcpStoreServer, generateToken } from '../src/rendezvous/index.js';

const MIB = 1024 * 1024;
const RANKS = 2;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Parameters and two Adam moments, 8 layers each, filled with a cheap generator (incompressible enough for a disk). */
function makeState(mib: number, seed: number): StateDict {
  const n = Math.floor((mib * MIB) / 3 / 4 / 8);
  let x = seed;
  const fill = (): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      a[i] = x / 4294967296;
    }
    return a;
  };
  const model: StateDict = {};
  const m: StateDict = {};
  const v: StateDict = {};
  for (let i = 0; i < 8; i++) {
    model[`layer${i}.weight`] = { dtype: 'F32', shape: [n], data: fill() };
    m[`layer${i}`] = fill();
    v[`layer${i}`] = fill();
  }
  return { model, optimizer: { expAvg: m, expAvgSq: v, step: 1 }, iteration: 1 };
}

interface Row {
  mode: string;
  seconds: number[];
  bytesPerRank: number;
}

/** One rank: times each mode's saves (a barrier first, so both start together), the slower rank's time counts. */
async function worker(dir: string, mib: number, repeats: number): Promise<void> {
  await setupDistributedEnvironment({ timeoutMs: 300_000 });
  const g = getProcessGroup();
  const ta = new BasicTensorAwareStateDict(makeState(mib, 12345 + g.rank));
  const partBytes = ta.tensors.reduce((s, t) => s + t.data.byteLength, 0);
  const rows: Row[] = [];
  for (const [mode, repl] of [
    ['no replication', undefined],
    ['clique replication, factor 2', new CliqueReplicationStrategy({ replicationFactor: 2, replicationJump: 1 })],
  ] as const) {
    const manager = new LocalCheckpointManager(path.join(dir, mode.replace(/\W+/g, '-')), { replStrategy: repl });
    const seconds: number[] = [];
    for (let it = 0; it <= repeats; it++) {
      await g.barrier();
      const t0 = performance.now();
      await manager.save(ta, it);
      const slowest = await g.allReduce(new Float64Array([(performance.now() - t0) / 1000]), 'max');
      if (it > 0) seconds.push(slowest[0]); // the first save warms the page cache and the sockets
    }
    rows.push({ mode, seconds, bytesPerRank: partBytes * (repl === undefined ? 1 : 2) });
  }
  if (g.rank === 0) process.stdout.write(`@@${JSON.stringify({ rows, partBytes })}\n`);
  await cleanupDistributed();
}

export async function main(): Promise<void> {
  const mib = Number(arg('mib', '384'));
  const repeats = Number(arg('repeats', '3'));
  const dir = await mkdtemp(path.join(arg('dir', tmpdir()), 'eh-bench-local-'));
  const token = generateToken();
  const server = await TcpStoreServer.start({ token, logger: () => undefined });
  const self = fileURLToPath(import.meta.url);
  try {
    const outs = await Promise.all(
      Array.from({ length: RANKS }, (_, rank) =>
        new Promise<string>((resolve, reject) => {
          const c = spawn(process.execPath, ['--import', 'tsx', self, '--worker', dir, String(mib), String(repeats)], {
            env: {
              ...process.env,
              RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(RANKS), LOCAL_WORLD_SIZE: String(RANKS), GROUP_RANK: '0',
              MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500', TORCHELASTIC_RESTART_COUNT: '0', TORCHELASTIC_RUN_ID: 'bench-local',
              EH_STORE_BACKEND: 'tcp', EH_STORE_ENDPOINT: server.endpoint, EH_TOKEN: token, EH_STORE_PREFIX: `bench-local-${process.pid}/`,
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`bench rank ${rank} exited ${String(code)}`))));
        }),
      ),
    );
    const line = outs[0].split('\n').find((l) => l.startsWith('@@'));
    if (line === undefined) throw new Error('rank 0 printed no result');
    const { rows, partBytes } = JSON.parse(line.slice(2)) as { rows: Row[]; partBytes: number };
    process.stdout.write(`local checkpoint benchmark: ${RANKS} ranks, ${(partBytes / MIB).toFixed(0)} MiB part per rank, fsync, median of ${repeats}, dir ${dir}\n`);
    process.stdout.write(`${'save of a local part'.padEnd(34)}${'seconds'.padStart(9)}${'written/rank'.padStart(14)}${'MiB/s/rank'.padStart(12)}\n`);
    for (const r of rows) {
      const s = median(r.seconds);
      process.stdout.write(`${r.mode.padEnd(34)}${s.toFixed(3).padStart(9)}${`${(r.bytesPerRank / MIB).toFixed(0)} MiB`.padStart(14)}${(r.bytesPerRank / MIB / s).toFixed(0).padStart(12)}\n`);
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--worker') await worker(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
else if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
