/**
 * Lower-level example: data-parallel training of a small MLP (TensorFlow.js, wasm) under `eh run`, with checkpoints,
 * a worker that kills itself once (SIGKILL) to show recovery, and learning-rate rescaling when the
 * world size differs from the one the run started with.
 *
 *   npm run build && node dist/cli/main.js run --standalone --nproc-per-node 2 --max-restarts 3 examples/elastic-mlp.ts -- --crash-at 150
 *
 * Options (after the script): --steps N (default 300), --crash-at STEP (rank 1 dies there on the first
 * attempt; 0 = never), --ckpt DIR (default .demo-ckpt, emptied at the first attempt).
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setupDistributedEnvironment, cleanupDistributed, isMainProcess } from 'elastic-harness/agent';
import { DataParallel, useWasmBackend } from 'elastic-harness/tfjs';
import { CheckpointManager, CheckpointTier, createCheckpointState, loadCheckpointToModel } from 'elastic-harness/checkpoint';
import { ElasticScalingManager, ScalingConfig } from 'elastic-harness/scaling';
import { SeededRng } from 'elastic-harness/data';

const FEATURES = 16;
const CLASSES = 4;
const HIDDEN = 64;
const LOCAL_BATCH = 32;
const BASE_LR = 0.01;
const BASE_WORLD = 2;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { steps: { type: 'string', default: '300' }, 'crash-at': { type: 'string', default: '0' }, ckpt: { type: 'string', default: '.demo-ckpt' } },
});
const steps = Number(values.steps);
const crashAt = Number(values['crash-at']);
const ckptDir = values.ckpt;
const attempt = Number(process.env.TORCHELASTIC_RESTART_COUNT ?? '0');

/** A deterministic pseudo-random stream, so every rank and every attempt sees the same data. */
function rng(seed: number): () => number {
  const r = new SeededRng(seed);
  return () => r.next();
}

/** Batch number `index` of the global stream: points around one of CLASSES fixed centres. */
function batch(index: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const centres = rng(7);
  const centre = Array.from({ length: CLASSES }, () => Array.from({ length: FEATURES }, () => centres() * 4 - 2));
  const r = rng(1000 + index);
  const xs = new Float32Array(LOCAL_BATCH * FEATURES);
  const ys = new Float32Array(LOCAL_BATCH * CLASSES);
  for (let i = 0; i < LOCAL_BATCH; i++) {
    const c = Math.floor(r() * CLASSES);
    ys[i * CLASSES + c] = 1;
    for (let f = 0; f < FEATURES; f++) xs[i * FEATURES + f] = centre[c][f] + (r() - 0.5) * 6;
  }
  return { x: tf.tensor2d(xs, [LOCAL_BATCH, FEATURES]), y: tf.tensor2d(ys, [LOCAL_BATCH, CLASSES]) };
}

await useWasmBackend();
const world = await setupDistributedEnvironment();
if (attempt === 0 && isMainProcess()) rmSync(ckptDir, { recursive: true, force: true });

const init = rng(42);
const param = (name: string, shape: [number, number] | [number]) =>
  tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (init() - 0.5) * 0.2), shape), true, name);
const vars = [param('w1', [FEATURES, HIDDEN]), param('b1', [HIDDEN]), param('w2', [HIDDEN, CLASSES]), param('b2', [CLASSES])];
const predict = (x: tf.Tensor2D) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, vars[0]), vars[1])), vars[2]), vars[3]) as tf.Tensor2D;

const optimizer = tf.train.adam(BASE_LR);
const scaling = new ElasticScalingManager({
  lrConfig: new ScalingConfig({ baseLr: BASE_LR, baseBatchSize: LOCAL_BATCH, baseWorldSize: BASE_WORLD, warmupSteps: 10 }),
  optimizer,
  strategy: 'variable_batch',
});
const dp = new DataParallel(optimizer, vars);
const manager = new CheckpointManager({ nvmePath: ckptDir, checkpointInterval: 25, memorySnapshotInterval: 25, keepLastN: 2, asyncSave: true });

let start = 1;
const resumed = await manager.loadCheckpoint();
if (resumed !== null) {
  await loadCheckpointToModel(resumed, { model: vars, optimizer, lrScheduler: scaling });
  start = resumed.step + 1;
  if (resumed.worldSize !== world.worldSize) scaling.onTopologyChange(world.worldSize);
  if (isMainProcess()) console.log(`resumed from step ${resumed.step} (saved by ${resumed.worldSize} workers, now ${world.worldSize}); lr ${scaling.currentLr.toExponential(2)}`);
} else {
  await dp.broadcastInitialWeights(0);
  if (world.worldSize !== BASE_WORLD) scaling.onTopologyChange(world.worldSize);
}

let lossSum = 0;
let lossCount = 0;
for (let step = start; step <= steps; step++) {
  if (step === crashAt && attempt === 0 && world.rank === 1) {
    console.log(`rank 1 kills itself with SIGKILL at step ${step} (demo of recovery)`);
    process.kill(process.pid, 'SIGKILL');
  }
  const { x, y } = batch(step * world.worldSize + world.rank);
  const loss = await dp.step(() => tf.losses.softmaxCrossEntropy(y, predict(x)) as tf.Scalar);
  tf.dispose([x, y]);
  lossSum += loss;
  lossCount++;
  scaling.stepLr();
  if (step % 25 === 0) {
    if (isMainProcess()) console.log(`step ${step}/${steps} mean loss ${(lossSum / lossCount).toFixed(4)} (rank 0's last ${lossCount} steps)`);
    lossSum = 0;
    lossCount = 0;
  }
  if (manager.shouldCheckpoint(step, CheckpointTier.NVME) && isMainProcess()) {
    await manager.saveCheckpoint(await createCheckpointState({ step, model: vars, optimizer, lrScheduler: scaling, worldSize: world.worldSize }), CheckpointTier.NVME);
  }
}

if (isMainProcess()) {
  const { x, y } = batch(1_000_000);
  const accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(predict(x), 1), tf.argMax(y, 1)), 'float32')).dataSync()[0]);
  console.log(`done: ${steps} steps, held-out accuracy ${(accuracy * 100).toFixed(1)} %`);
}
await manager.waitForPendingSaves();
await manager.close();
await cleanupDistributed();
