/**
 * One side of bench/trainer.ts: trains the benchmark's MLP on the mnist digits for a number of steps, with
 * a bare TensorFlow.js loop (DataParallel) or with the GenericTrainer (checkpoints every 100 steps,
 * asynchronous, JSON and TensorBoard logging on), and prints `BENCH {json}` with the time per step.
 * argv[2]: JSON { mode: 'bare' | 'trainer', steps, warmup, batch, dir }
 */
import * as tf from '@tensorflow/tfjs';
import { cleanupDistributed, setupDistributedEnvironment } from '../src/agent/index.js';
import { DataParallel, TfjsModel, TfjsOptimizer, useWasmBackend } from '../src/tfjs/index.js';
import { CompositeLogger, GenericTrainer, JsonLinesLogger, TensorBoardLogger, createDataLoader } from '../src/trainer/index.js';
import { createMlp } from '../examples/lib/mlp.js';
import { CLASSES, PIXELS, gather, loadDigits } from '../examples/lib/mnist.js';

const o = JSON.parse(process.argv[2] ?? '{}') as { mode: 'bare' | 'trainer'; steps: number; warmup: number; batch: number; dir: string };
await useWasmBackend();
const world = await setupDistributedEnvironment();
const { train } = loadDigits();
const net = createMlp(256);
const batchOf = (indices: readonly number[]) => {
  const { x, y } = gather(train, indices);
  return { x: tf.tensor2d(x, [indices.length, PIXELS]), y: tf.tensor2d(y, [indices.length, CLASSES]) };
};
const lossOf = (b: { x: tf.Tensor2D; y: tf.Tensor2D }) => tf.losses.softmaxCrossEntropy(b.y, net.logits(b.x)) as tf.Scalar;
let stepTimes: number[] = [];

/** 0..n-1 in random order (Fisher-Yates). */
function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

if (o.mode === 'bare') {
  const dp = new DataParallel(tf.train.adam(1e-3), net.variables);
  await dp.broadcastInitialWeights(0);
  // What a user writes for shuffled training (the trainer's sampler shuffles too): a fresh permutation each
  // epoch, this rank's batches taken from it, each gathered from those indices.
  const n = train.n;
  const perSteps = Math.floor(n / (o.batch * world.worldSize));
  let order: number[] = [];
  let t = performance.now();
  for (let s = 0; s < o.steps; s++) {
    if (s % perSteps === 0) order = shuffled(n);
    const start = ((s % perSteps) * world.worldSize + world.rank) * o.batch;
    const b = batchOf(order.slice(start, start + o.batch));
    await dp.step(() => lossOf(b));
    tf.dispose([b.x, b.y]);
    const now = performance.now();
    stepTimes.push(now - t);
    t = now;
  }
} else {
  const logger = world.rank === 0 ? new CompositeLogger([new JsonLinesLogger({ path: `${o.dir}/metrics.jsonl` }), new TensorBoardLogger({ logDir: o.dir })]) : undefined;
  const trainer = new GenericTrainer({
    config: {
      trainLoaderConfig: { dataloaderNames: ['digits'], epochLengthPolicy: 'FIXED_NUM_STEPS', stepsPerEpoch: o.steps },
      checkpoint: { rootDir: `${o.dir}/ckpt`, saveEveryNSteps: 100, saveEveryNEpochs: null, tiers: ['NVME'], asyncSave: true, resume: false },
    },
    model: new TfjsModel(net.variables),
    optimizers: [new TfjsOptimizer(tf.train.adam(1e-3))],
    logger,
  });
  trainer.setTrainingStep((_t, b) => ({ loss: lossOf(b as { x: tf.Tensor2D; y: tf.Tensor2D }) }));
  let t = 0;
  trainer.hookManager.registerHook({
    onTrainStart: () => void (t = performance.now()),
    onStepEnd: () => {
      const now = performance.now();
      stepTimes.push(now - t);
      t = now;
    },
  });
  const loader = createDataLoader({ datasetSize: train.n, batchSize: o.batch, getBatch: batchOf, disposeBatch: (b) => tf.dispose([b.x, b.y]) });
  await trainer.fit({ trainLoaders: [loader], maxEpochs: 1 });
  await trainer.checkpointer.close();
}
stepTimes = stepTimes.slice(o.warmup);
const mean = stepTimes.reduce((a, b) => a + b, 0) / stepTimes.length;
if (world.rank === 0) process.stdout.write(`BENCH ${JSON.stringify({ mode: o.mode, world: world.worldSize, stepMs: mean, samplesPerSec: (o.batch * world.worldSize * 1000) / mean })}\n`);
await cleanupDistributed();
