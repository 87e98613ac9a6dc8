/**
 * A GenericTrainer worker for the trainer's process tests: two synthetic loaders (WEIGHTED), gradient
 * accumulation 2, an MLP, checkpoints every few steps. It prints `T {json}` lines: each micro-batch's sample
 * ids (so a test compares the batches of two runs), each step, the final weights hash.
 *
 * argv[2]: JSON options { ckpt, epochs?, accumulation?, saveEvery?, signal?, maxCheckpointSec?, slowMs?, holdUntil?, scaling? }
 * (strategy: 'SEQUENTIAL' instead of WEIGHTED 0.7/0.3: each loader's batches once an epoch;
 * scaling: { baseLr, baseWorldSize }: an ElasticScalingManager, variable_batch, linear rule, no warm-up)
 * (holdUntil: after that step, each step waits, at most 60 s, until that file exists, so a test that acts on a
 * committed checkpoint does not depend on how fast the background write is)
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { cleanupDistributed, setupDistributedEnvironment } from '../../src/agent/index.js';
import { TfjsModel, TfjsOptimizer, useWasmBackend, weightsHash } from '../../src/tfjs/index.js';
import { ElasticScalingManager, ScalingConfig } from '../../src/scaling/index.js';
import { GenericTrainer, NULL_LOGGER, createDataLoader } from '../../src/trainer/index.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as { ckpt: string; epochs?: number; accumulation?: number; saveEvery?: number; signal?: string; maxCheckpointSec?: number; slowMs?: number; holdUntil?: { afterStep: number; file: string }; scaling?: { baseLr: number; baseWorldSize: number }; strategy?: 'SEQUENTIAL' };
const out = (o: Record<string, unknown>): void => {
  process.stdout.write(`T ${JSON.stringify(o)}\n`);
};

await useWasmBackend();
const world = await setupDistributedEnvironment();
out({ type: 'worker', rank: world.rank, pid: process.pid, attempt: Number(process.env.TORCHELASTIC_RESTART_COUNT ?? 0) });

const F = 8;
/** Sample i of loader l: features from a fixed formula, label its parity; the ids come along. */
const loader = (l: number, n: number, batchSize: number) =>
  createDataLoader<{ x: tf.Tensor2D; y: tf.Tensor2D; ids: number[] }>({
    datasetSize: n,
    batchSize,
    getBatch: (indices) => {
      const x = new Float32Array(indices.length * F);
      const y = new Float32Array(indices.length * 2);
      indices.forEach((id, r) => {
        for (let f = 0; f < F; f++) x[r * F + f] = Math.sin(id * (f + 1) * 0.37 + l);
        y[r * 2 + ((id + l) % 2)] = 1;
      });
      return { x: tf.tensor2d(x, [indices.length, F]), y: tf.tensor2d(y, [indices.length, 2]), ids: [...indices] };
    },
    disposeBatch: (b) => tf.dispose([b.x, b.y]),
  });

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.5;
const w1 = tf.variable(tf.tensor2d(Float32Array.from({ length: F * 16 }, rand), [F, 16]), true, 'w1');
const w2 = tf.variable(tf.tensor2d(Float32Array.from({ length: 16 * 2 }, rand), [16, 2]), true, 'w2');
const vars = [w1, w2];
const adam = tf.train.adam(opts.scaling?.baseLr ?? 0.01);
const scaling = opts.scaling === undefined ? undefined : new ElasticScalingManager({ lrConfig: new ScalingConfig({ baseLr: opts.scaling.baseLr, baseBatchSize: 4, baseWorldSize: opts.scaling.baseWorldSize, warmupSteps: 0 }), optimizer: adam });
const trainer = new GenericTrainer({
  config: {
    trainLoaderConfig: opts.strategy === 'SEQUENTIAL' ? { samplingStrategy: 'SEQUENTIAL', dataloaderNames: ['a', 'b'], epochLengthPolicy: 'SUM_OF_LENGTHS' } : { samplingStrategy: 'WEIGHTED', dataloaderNames: ['a', 'b'], dataloaderWeights: [0.7, 0.3], epochLengthPolicy: 'SUM_OF_LENGTHS' },
    checkpoint: { rootDir: opts.ckpt, saveEveryNSteps: opts.saveEvery ?? 5, saveEveryNEpochs: 1, tiers: ['NVME'], asyncSave: true, maxCheckpoints: 3 },
    performance: { gradientAccumulationSteps: opts.accumulation ?? 2, seed: 99 },
    faultTolerance: { preemptionSignal: opts.signal ?? 'SIGUSR1', maxCheckpointSec: opts.maxCheckpointSec ?? 30 },
  },
  model: new TfjsModel(vars),
  optimizers: [new TfjsOptimizer(adam)],
  scaling,
  logger: NULL_LOGGER,
});
trainer.hookManager.registerHook({
  onStepEnd: async (t, step) => {
    const hold = opts.holdUntil;
    if (hold !== undefined && step > hold.afterStep) {
      for (const end = Date.now() + 60_000; !existsSync(hold.file) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    }
    out({ type: 'step', rank: t.rank, step, epoch: t.epoch, worldSize: t.worldSize, lr: t.scaling?.currentLr });
    if (opts.slowMs !== undefined) await new Promise((r) => setTimeout(r, opts.slowMs));
  },
  onCheckpointLoad: (t, path, info) => out({ type: 'resumed', rank: t.rank, path, ...info }),
});
trainer.setTrainingStep((t, batch, batchIdx, loaderIdx, name) => {
  const b = batch as { x: tf.Tensor2D; y: tf.Tensor2D; ids: number[] };
  out({ type: 'batch', rank: t.rank, step: t.globalStep + 1, epoch: t.epoch, loader: name, loaderIdx, batchIdx, ids: b.ids });
  return { loss: tf.losses.softmaxCrossEntropy(b.y, tf.matMul(tf.tanh(tf.matMul(b.x, w1)), w2)) };
});
await trainer.fit({ trainLoaders: [loader(0, 53, 4), loader(1, 29, 3)], maxEpochs: opts.epochs ?? 2 });
out({ type: 'done', rank: world.rank, steps: trainer.globalStep, hash: weightsHash(vars) });
await trainer.checkpointer.close();
await cleanupDistributed();
