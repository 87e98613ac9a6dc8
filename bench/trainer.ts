/**
 * The GenericTrainer's per-step overhead: the same MLP (784-256-10), data (mnist digits) and batch trained
 * with a bare TensorFlow.js loop and with the GenericTrainer (checkpoints every 100 steps, asynchronous;
 * JSON and TensorBoard logging on), on one rank; then 2 ranks against 1 (scaling efficiency). Target:
 * overhead at most 3 % of the bare loop's step time. `npm run bench -- trainer`; TRAINER_BENCH_STEPS to change the length.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Result {
  mode: string;
  world: number;
  stepMs: number;
  samplesPerSec: number;
}

function measure(mode: 'bare' | 'trainer', workers: number, steps: number): Result {
  const dir = mkdtempSync(join(tmpdir(), 'eh-bench-trainer-'));
  try {
    const opts = JSON.stringify({ mode, steps, warmup: Math.min(20, Math.floor(steps / 5)), batch: 64, dir });
    const args = workers === 1 ? ['--import', 'tsx', 'bench/trainer-worker.ts', opts] : ['--import', 'tsx', 'src/cli/main.ts', 'run', '--standalone', '--nproc-per-node', String(workers), 'bench/trainer-worker.ts', opts];
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...(workers === 1 ? { WORLD_SIZE: '1', RANK: '0' } : {}) } });
    const line = r.stdout.split('\n').map((l) => l.replace(/^\[rank\d+\]:/, '')).find((l) => l.startsWith('BENCH '));
    if (line === undefined) throw new Error(`bench worker (${mode}, ${workers}) printed no result: ${r.stderr.slice(-2000)}`);
    return JSON.parse(line.slice(6)) as Result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The median by step time (the middle run: robust to the other helpers' bursts on this shared machine, unlike a mean). */
function median(rs: Result[]): Result {
  const sorted = [...rs].sort((a, b) => a.stepMs - b.stepMs);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function main(): Promise<void> {
  const steps = Number(process.env.TRAINER_BENCH_STEPS ?? 400);
  const rounds = Number(process.env.TRAINER_BENCH_ROUNDS ?? 5);
  // Interleaved rounds, the order alternating (bare first, then trainer first), each run its own process with
  // its own warm-up: a slow spell of the shared machine hits both sides alike; medians per side.
  const bare: Result[] = [];
  const trainer: Result[] = [];
  const two: Result[] = [];
  for (let i = 0; i < rounds; i++) {
    const order: Array<'bare' | 'trainer'> = i % 2 === 0 ? ['bare', 'trainer'] : ['trainer', 'bare'];
    for (const mode of order) (mode === 'bare' ? bare : trainer).push(measure(mode, 1, steps));
    two.push(measure('trainer', 2, steps));
  }
  const b1 = median(bare);
  const t1 = median(trainer);
  const t2 = median(two);
  const overhead = (t1.stepMs / b1.stepMs - 1) * 100;
  const efficiency = (t2.samplesPerSec / (2 * t1.samplesPerSec)) * 100;
  const rows = [
    ['bare tfjs loop, 1 rank', b1.stepMs.toFixed(2), Math.round(b1.samplesPerSec).toString(), ''],
    ['GenericTrainer, 1 rank', t1.stepMs.toFixed(2), Math.round(t1.samplesPerSec).toString(), `overhead ${overhead.toFixed(1)} % (target <= 3 %)`],
    ['GenericTrainer, 2 ranks', t2.stepMs.toFixed(2), Math.round(t2.samplesPerSec).toString(), `scaling efficiency ${efficiency.toFixed(0)} % of 2x`],
  ];
  console.log(`MLP 784-256-10, batch 64 per rank, medians of ${rounds} interleaved runs each, ${steps} steps (first ${Math.min(20, Math.floor(steps / 5))} not timed), checkpoints every 100 steps (async, NVME), JSON + TensorBoard logging`);
  console.log(['setup', 'ms/step', 'samples/s', ''].join(' | '));
  for (const r of rows) console.log(r.join(' | '));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
