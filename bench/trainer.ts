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

export async function main(): Promise<void> {
  const steps = Number(process.env.TRAINER_BENCH_STEPS ?? 400);
  // Alternate the two, twice, and keep each one's best: the machine is shared, noise only adds time.
  const bare: Result[] = [];
  const trainer: Result[] = [];
  for (let i = 0; i < 2; i++) {
    bare.push(measure('bare', 1, steps));
    trainer.push(measure('trainer', 1, steps));
  }
  const best = (rs: Result[]) => rs.reduce((a, b) => (b.stepMs < a.stepMs ? b : a));
  const b1 = best(bare);
  const t1 = best(trainer);
  const t2 = measure('trainer', 2, steps);
  const overhead = (t1.stepMs / b1.stepMs - 1) * 100;
  const efficiency = (t2.samplesPerSec / (2 * t1.samplesPerSec)) * 100;
  const rows = [
    ['bare tfjs loop, 1 rank', b1.stepMs.toFixed(2), Math.round(b1.samplesPerSec).toString(), ''],
    ['GenericTrainer, 1 rank', t1.stepMs.toFixed(2), Math.round(t1.samplesPerSec).toString(), `overhead ${overhead.toFixed(1)} % (target <= 3 %)`],
    ['GenericTrainer, 2 ranks', t2.stepMs.toFixed(2), Math.round(t2.samplesPerSec).toString(), `scaling efficiency ${efficiency.toFixed(0)} % of 2x`],
  ];
  console.log(`MLP 784-256-10, batch 64 per rank, ${steps} steps (first ${Math.min(20, Math.floor(steps / 5))} not timed), checkpoints every 100 steps (async, NVME), JSON + TensorBoard logging`);
  console.log(['setup', 'ms/step', 'samples/s', ''].join(' | '));
  for (const r of rows) console.log(r.join(' | '));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
