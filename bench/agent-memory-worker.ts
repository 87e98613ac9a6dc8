/**
 * A worker for bench/agent-memory.ts: every rank holds the checkpoint benchmark's state (BENCH_MIB, default 384),
 * rank 0 saves it to TIER (MEMORY, NVME or S3) at steps SAVE_AT..SAVE_AT+SAVES-1, and every step ends with a
 * barrier, so a step is complete once every rank made it. After a restart each rank loads the newest checkpoint
 * with an ordinary CheckpointManager.loadCheckpoint(). Logs `rank step epochMs round tier source loadMs pauseMs`
 * to $PROGRESS.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointManager, CheckpointState, type StateDict, type CheckpointTier as Tier } from '../src/checkpoint/index.js';
import { barrier, cleanupDistributed, setupDistributedEnvironment } from '../src/collective/index.js';

const MIB = 1024 * 1024;
const rank = Number(process.env.RANK);
const restart = process.env.TORCHELASTIC_RESTART_COUNT ?? '0';
const dir = process.env.BENCH_DIR as string;
const tier = (process.env.TIER ?? 'MEMORY') as Tier;
const mib = Number(process.env.BENCH_MIB ?? '384');
const saveAt = Number(process.env.SAVE_AT ?? '3');
const stepMs = Number(process.env.STEP_MS ?? '50');
const saves = Number(process.env.SAVES ?? '1');
const round = process.env.EH_RDZV_ROUND ?? '0';
writeFileSync(join(dir, `pid-rank${rank}-r${restart}`), String(process.pid));

const s3 = process.env.S3_ENDPOINT;
const manager = new CheckpointManager({
  nvmePath: join(dir, 'ckpt'),
  asyncSave: false,
  maxMemorySnapshots: 1,
  keepLastN: 1,
  ...(s3 !== undefined ? { s3Bucket: process.env.S3_BUCKET ?? 'eh-bench', s3Endpoint: s3, s3ForcePathStyle: true, s3Region: 'us-east-1', s3Credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
});

/** The checkpoint benchmark's shape: 128 MiB of parameters plus two Adam moments, 8 layers each. */
function makeState(step: number): CheckpointState {
  const n = Math.floor((mib * MIB) / 3 / 4 / 8);
  const part = (seed: number): StateDict => {
    const d: StateDict = {};
    for (let i = 0; i < 8; i++) d[`layer${i}`] = { dtype: 'F32', shape: [n], data: new Float32Array(n).fill(seed + i) };
    return d;
  };
  return new CheckpointState({ step, modelStateDict: part(1), optimizerStateDict: { expAvg: part(2), expAvgSq: part(3), step }, worldSize: Number(process.env.WORLD_SIZE ?? 1) });
}

let step = 0;
let from = 'none';
let source = '-';
const t0 = performance.now();
const loaded = await manager.loadCheckpoint();
const loadMs = performance.now() - t0;
if (loaded !== null) {
  step = loaded.step;
  from = loaded.loadInfo?.tier ?? '?';
  source = loaded.loadInfo?.source ?? '-';
}
const state = loaded ?? makeState(0);
await setupDistributedEnvironment({ timeoutMs: 60_000 });
let pauseMs = 0;
while (step < 100_000) {
  await new Promise((r) => setTimeout(r, stepMs));
  step += 1;
  if (rank === 0 && step >= saveAt && step < saveAt + saves && loaded === null) {
    state.step = step;
    const p0 = performance.now();
    await manager.saveCheckpoint(state, tier);
    pauseMs = performance.now() - p0;
  }
  await barrier();
  appendFileSync(process.env.PROGRESS as string, `${rank} ${step} ${Date.now()} ${round} ${from} ${source} ${loadMs.toFixed(1)} ${pauseMs.toFixed(1)}\n`);
  pauseMs = 0;
}
await cleanupDistributed();
