/**
 * The training script of the data part's end-to-end tests, run by `eh run` with the library's own parts:
 * an MLP in TensorFlow.js (wasm) with Adam, the ElasticSampler over a dataset whose samples carry their id,
 * gradient accumulation through ElasticScalingManager (constant_batch), one allreduce per optimizer step,
 * asynchronous NVMe checkpoints, and resumeTraining() at every start.
 *
 * Each line of $EVENTS is a JSON event: start (with the step resumed), ids (a rank's sample ids of one optimizer
 * step, written before the step's allreduce, so no rank can finish a step whose ids are not all logged),
 * step (rank 0: the step's global loss and sample count), ckpt, kill, recovery, done (final weights' hash).
 *
 * Env: EVENTS, CKPT, N (samples), B (per-rank micro-batch), TARGET (global batch per optimizer step),
 * BASE_WORLD, EPOCHS, CKPT_EVERY (steps), STEP_MS (pause per step, so a test can aim its kills),
 * KILL_PLAN (JSON [{restart, rank, step, when: 'mid-window' | 'after-async-save' | 'after-step'}]),
 * STOP_AFTER (exit cleanly after the checkpoint of this step), WEIGHTS_OUT (rank 0 writes the final weights).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { cleanupDistributed, getProcessGroup, setupDistributedEnvironment } from '../../src/collective/index.js';
import { CheckpointManager, CheckpointTier } from '../../src/checkpoint/index.js';
import { ElasticSampler, SeededRng, resumeTraining } from '../../src/data/index.js';
import { mix32 } from '../../src/data/hash.js';
import { TrainingMetrics } from '../../src/metrics/index.js';
import { ElasticScalingManager, GradAccumulationConfig, ScalingConfig } from '../../src/scaling/index.js';
import { flattenTensors, unflattenTensors, useWasmBackend, weightsHash } from '../../src/tfjs/index.js';

interface KillPoint {
  restart: number;
  rank: number;
  step: number;
  when: 'mid-window' | 'after-async-save' | 'after-step';
}

const env = (k: string, d?: string): string => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const EVENTS = env('EVENTS');
const N = Number(env('N', '480'));
const B = Number(env('B', '8'));
const TARGET = Number(env('TARGET', '32'));
const BASE_WORLD = Number(env('BASE_WORLD', '2'));
const EPOCHS = Number(env('EPOCHS', '2'));
const CKPT_EVERY = Number(env('CKPT_EVERY', '3'));
const STEP_MS = Number(env('STEP_MS', '0'));
const STOP_AFTER = Number(env('STOP_AFTER', '0'));
const KILLS = JSON.parse(env('KILL_PLAN', '[]')) as KillPoint[];
const [IN, HIDDEN, CLASSES] = [8, 16, 3];
const restart = Number(process.env.TORCHELASTIC_RESTART_COUNT ?? '0');
const round = Number(process.env.EH_RDZV_ROUND ?? '0');

function emit(event: Record<string, unknown>): void {
  appendFileSync(EVENTS, `${JSON.stringify({ ...event, round, restart, pid: process.pid, agent: process.ppid, at: Date.now() })}\n`);
}

/** Sample `id`: features from a hash of the id (with noise from the step's seed), its class from a fixed teacher. */
function sample(id: number, noiseSeed: number): { x: number[]; y: number } {
  const x = Array.from({ length: IN }, (_, f) => (mix32(id * 31 + f) / 0x100000000) * 2 - 1);
  const scores = Array.from({ length: CLASSES }, (_, c) => x.reduce((s, v, f) => s + v * Math.sin(1 + f * 3 + c * 7), 0));
  const y = scores.indexOf(Math.max(...scores));
  const noisy = x.map((v, f) => v + 0.05 * ((mix32(noiseSeed ^ mix32(id * 131 + f)) / 0x100000000) * 2 - 1));
  return { x: noisy, y };
}

await useWasmBackend();
const world = await setupDistributedEnvironment({ timeoutMs: 30_000 });
const group = getProcessGroup();
const vars = [
  tf.variable(tf.randomNormal([IN, HIDDEN], 0, 0.5, 'float32', 11), true, 'w1'),
  tf.variable(tf.zeros([HIDDEN]), true, 'b1'),
  tf.variable(tf.randomNormal([HIDDEN, CLASSES], 0, 0.5, 'float32', 12), true, 'w2'),
  tf.variable(tf.zeros([CLASSES]), true, 'b2'),
];
const optimizer = tf.train.adam(0.02);
const scaling = new ElasticScalingManager({
  strategy: 'constant_batch',
  optimizer,
  lrConfig: new ScalingConfig({ baseLr: 0.02, baseBatchSize: B, baseWorldSize: BASE_WORLD }),
  accumConfig: new GradAccumulationConfig({ targetGlobalBatchSize: TARGET, localBatchSize: B, baseWorldSize: BASE_WORLD }),
});
const sampler = new ElasticSampler({ datasetSize: N, batchSize: B, rank: world.rank, worldSize: world.worldSize, seed: 5 });
const noise = new SeededRng(77);
const manager = new CheckpointManager({ nvmePath: env('CKPT'), asyncSave: true, keepLastN: 3, checkpointInterval: CKPT_EVERY }, { logger: (m) => emit({ t: 'ckpt-log', m }) });
const metrics = new TrainingMetrics();
const resume = await resumeTraining({ manager, model: vars, optimizer, sampler, scaling, rngs: { noise }, world, metrics });
emit({ t: 'start', rank: world.rank, world: world.worldSize, resumed: resume.step, epoch: sampler.epoch, cursor: sampler.cursor, tier: resume.tier, accumulation: scaling.accumulationSteps, failureTime: resume.failureTime });

const killAt = (step: number, when: KillPoint['when']): void => {
  if (KILLS.some((k) => k.restart === restart && k.rank === world.rank && k.step === step && k.when === when)) {
    emit({ t: 'kill', rank: world.rank, step, when, pendingSaves: manager.pendingSaves });
    process.kill(process.pid, 'SIGKILL');
  }
};

const size = vars.reduce((n, v) => n + v.size, 0);
const acc = new Float32Array(size + 1);
let step = resume.step;
for (let epoch = sampler.epoch; epoch < EPOCHS; epoch++) {
  sampler.setEpoch(epoch);
  while (sampler.length > 0) {
    const next = step + 1;
    const window = Math.min(scaling.accumulationSteps, sampler.length);
    const from = sampler.cursor;
    const noiseSeed = noise.nextUint32();
    const ids: number[] = [];
    acc.fill(0);
    for (let micro = 0; micro < window; micro++) {
      if (micro === 1) killAt(next, 'mid-window');
      const batch = sampler.nextBatch()!;
      ids.push(...batch);
      if (batch.length === 0) continue;
      const rows = batch.map((id) => sample(id, noiseSeed));
      const x = tf.tensor2d(rows.flatMap((r) => r.x), [rows.length, IN]);
      const y = tf.oneHot(tf.tensor1d(rows.map((r) => r.y), 'int32'), CLASSES);
      // The sum of the per-sample losses: the window's gradient is then divided by its global sample count,
      // the same mean whatever the world size and however the window was split.
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, vars[0]), vars[1])), vars[2]), vars[3]), undefined, undefined, tf.Reduction.NONE)) as tf.Scalar, vars);
      const flat = flattenTensors(vars.map((v) => grads[v.name]));
      for (let i = 0; i < size; i++) acc[i] += flat[i];
      acc[size] += (await value.data())[0];
      tf.dispose([x, y, value, ...Object.values(grads)]);
      scaling.shouldStep();
    }
    const count = sampler.cursor - from;
    emit({ t: 'ids', rank: world.rank, world: world.worldSize, step: next, epoch, ids });
    await group.allReduce(acc, 'sum');
    for (let i = 0; i < size; i++) acc[i] /= count;
    const averaged = unflattenTensors(acc.subarray(0, size), vars);
    optimizer.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: averaged[i] })));
    tf.dispose(averaged);
    scaling.accumManager?.reset();
    step = next;
    const event = resume.stepCompleted(step);
    if (event !== null) emit({ t: 'recovery', rank: world.rank, ...event });
    if (world.rank === 0) emit({ t: 'step', step, epoch, world: world.worldSize, loss: acc[size], samples: count, accumulation: window });
    killAt(step, 'after-step');
    const endOfRun = epoch === EPOCHS - 1 && sampler.length === 0;
    if (world.rank === 0 && (step % CKPT_EVERY === 0 || endOfRun || step === STOP_AFTER)) {
      await manager.saveCheckpoint(await resume.capture({ step, epoch: sampler.epoch }), CheckpointTier.NVME);
      emit({ t: 'ckpt', step });
      killAt(step, 'after-async-save');
    }
    if (step === STOP_AFTER) {
      await manager.waitForPendingSaves();
      await group.allReduce(new Float32Array(1), 'sum');
      emit({ t: 'stopped', rank: world.rank, step });
      await manager.close();
      await cleanupDistributed();
      process.exit(0);
    }
    if (STEP_MS > 0) await new Promise((r) => setTimeout(r, STEP_MS));
  }
}
await manager.waitForPendingSaves();
if (world.rank === 0 && process.env.WEIGHTS_OUT !== undefined) writeFileSync(process.env.WEIGHTS_OUT, Buffer.concat(vars.map((v) => Buffer.from((v.dataSync() as Float32Array).slice().buffer))));
emit({ t: 'done', rank: world.rank, world: world.worldSize, step, hash: weightsHash(vars), metrics: world.rank === 0 ? metrics.toJSON() : undefined });
// Every rank keeps its group until all are done, so no rank sees a peer vanish at the very end.
await group.allReduce(new Float32Array(1), 'sum');
await manager.close();
await cleanupDistributed();
