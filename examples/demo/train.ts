/**
 * The demo's worker: a GenericTrainer trains a small CNN on the real `mnist` digits, 2 workers under `eh run`,
 * checkpoints to the MEMORY and NVME tiers (asynchronous), a progress stream for the demo's driver
 * (examples/demo.ts) on stdout, TensorBoard event files in --logdir. Run through `npm run demo`.
 *
 * Options: --ckpt DIR, --logdir DIR, --epochs N (default 5), --hidden N (default 128), --batch N (per rank, default 32).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { cleanupDistributed, setupDistributedEnvironment } from 'elastic-harness/agent';
import { TfjsModel, TfjsOptimizer, useWasmBackend, weightsHash } from 'elastic-harness/tfjs';
import { CompositeLogger, GenericTrainer, JsonLinesLogger, TensorBoardLogger, createDataLoader, type TrainerDataLoader } from 'elastic-harness/trainer';
import { createCnn } from '../lib/cnn.js';
import { CLASSES, PIXELS, gather, loadDigits, type DigitSet } from '../lib/mnist.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { ckpt: { type: 'string', default: '.demo/checkpoints' }, logdir: { type: 'string', default: '.demo/logs' }, epochs: { type: 'string', default: '5' }, hidden: { type: 'string', default: '128' }, batch: { type: 'string', default: '32' }, lr: { type: 'string', default: '0.002' } },
});

/** A line for the driver: `EHDEMO {json}`. */
const emit = (obj: Record<string, unknown>): void => {
  process.stdout.write(`EHDEMO ${JSON.stringify(obj)}\n`);
};

await useWasmBackend();
const world = await setupDistributedEnvironment();
emit({ type: 'worker', rank: world.rank, pid: process.pid, worldSize: world.worldSize, attempt: Number(process.env.TORCHELASTIC_RESTART_COUNT ?? 0) });

const { train, test } = loadDigits();
type Batch = { x: tf.Tensor2D; y: tf.Tensor2D };
const loaderOf = (set: DigitSet, batchSize: number): TrainerDataLoader<Batch> =>
  createDataLoader<Batch>({
    datasetSize: set.n,
    batchSize,
    getBatch: (indices) => {
      const { x, y } = gather(set, indices);
      return { x: tf.tensor2d(x, [indices.length, PIXELS]), y: tf.tensor2d(y, [indices.length, CLASSES]) };
    },
    disposeBatch: (b) => tf.dispose([b.x, b.y]),
  });

const net = createCnn({ hidden: Number(values.hidden) });
const model = new TfjsModel(net.variables);
const adam = tf.train.adam(Number(values.lr));
const optimizer = new TfjsOptimizer(adam);
const logger = world.rank === 0 ? new CompositeLogger([new JsonLinesLogger({ write: (line) => process.stdout.write(`EHDEMO ${line}\n`), logEveryNSteps: 1 }), new TensorBoardLogger({ logDir: values.logdir })]) : undefined;

const trainer = new GenericTrainer({
  config: {
    trainLoaderConfig: { samplingStrategy: 'ROUND_ROBIN', dataloaderNames: ['digits'] },
    valLoaderConfig: { samplingStrategy: 'SEQUENTIAL', dataloaderNames: ['heldout'] },
    checkpoint: { rootDir: values.ckpt, saveEveryNSteps: 40, saveEveryNEpochs: 1, tiers: ['MEMORY', 'NVME'], memoryEveryNSteps: 10, maxCheckpoints: 3, monitorMetric: 'val/accuracy', monitorMode: 'max', asyncSave: true },
    performance: { seed: 1234 },
  },
  model,
  optimizers: [optimizer],
  logger,
});

// A hook decays the learning rate each epoch (a function of the epoch alone, so a resumed run agrees).
trainer.hookManager.registerHook({
  onEpochStart: (_t, epoch) => {
    (adam as unknown as { learningRate: number }).learningRate = Number(values.lr) * 0.8 ** epoch;
  },
});

trainer.setTrainingStep((_t, batch) => {
  const b = batch as Batch;
  return { loss: tf.losses.softmaxCrossEntropy(b.y, net.logits(b.x)) };
});
trainer.setValidationStep((_t, batch) => {
  const b = batch as Batch;
  const logits = net.logits(b.x);
  return { loss: tf.losses.softmaxCrossEntropy(b.y, logits), accuracy: tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(b.y, 1)), 'float32')) };
});

await trainer.fit({ trainLoaders: [loaderOf(train, Number(values.batch))], valLoaders: [loaderOf(test, 250)], maxEpochs: Number(values.epochs) });

if (world.rank === 0) {
  emit({
    type: 'done',
    steps: trainer.globalStep,
    finalLoss: trainer.epochMetrics['train/loss'],
    accuracy: trainer.validationMetrics['val/accuracy'],
    hash: weightsHash(net.variables),
    written: trainer.checkpointer.written,
    resumedFrom: trainer.resumedFrom,
    tensorboard: values.logdir,
  });
}
await trainer.checkpointer.close();
await cleanupDistributed();
