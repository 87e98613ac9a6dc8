/**
 * The GenericTrainer in a few lines: two loaders interleaved WEIGHTED, checkpoints every 20 steps with
 * mid-epoch resume, console progress. Runs alone or under eh run:
 *
 *   node --import tsx examples/trainer-minimal.ts
 *   npx eh run --standalone --nproc-per-node 2 examples/trainer-minimal.ts
 */
import * as tf from '@tensorflow/tfjs';
import { cleanupDistributed, setupDistributedEnvironment } from 'elastic-harness/agent';
import { TfjsModel, TfjsOptimizer, useWasmBackend } from 'elastic-harness/tfjs';
import { GenericTrainer, createDataLoader } from 'elastic-harness/trainer';

await useWasmBackend();
await setupDistributedEnvironment(); // a world of one when not under eh run

// y = 3x - 1 with noise, from two "sources" of different sizes.
const loader = (n: number, offset: number) =>
  createDataLoader({
    datasetSize: n,
    batchSize: 8,
    getBatch: (idx) => {
      const x = idx.map((i) => ((i + offset) % 97) / 97);
      return { x: tf.tensor2d(x, [x.length, 1]), y: tf.tensor2d(x.map((v, k) => 3 * v - 1 + 0.01 * Math.sin(idx[k])), [x.length, 1]) };
    },
    disposeBatch: (b) => tf.dispose([b.x, b.y]),
  });

const w = tf.variable(tf.zeros([1, 1]), true, 'w');
const b = tf.variable(tf.zeros([1]), true, 'b');
const trainer = new GenericTrainer({
  config: {
    trainLoaderConfig: { samplingStrategy: 'WEIGHTED', dataloaderNames: ['big', 'small'], dataloaderWeights: [0.8, 0.2] },
    checkpoint: { rootDir: '.trainer-minimal', saveEveryNSteps: 20 },
    logging: { loggerType: 'console', logEveryNSteps: 20 },
  },
  model: new TfjsModel([w, b]),
  optimizers: [new TfjsOptimizer(tf.train.adam(0.05))],
});
trainer.setTrainingStep((_t, batch) => {
  const { x, y } = batch as { x: tf.Tensor2D; y: tf.Tensor2D };
  return { loss: tf.losses.meanSquaredError(y, tf.add(tf.matMul(x, w), b)) };
});
await trainer.fit({ trainLoaders: [loader(400, 0), loader(100, 50)], maxEpochs: 5 });
console.log(`w ${w.dataSync()[0].toFixed(3)} b ${b.dataSync()[0].toFixed(3)} (target 3, -1)`);
await trainer.checkpointer.close();
await cleanupDistributed();
