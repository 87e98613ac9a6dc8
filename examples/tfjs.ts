/**
 * TensorFlow.js data parallelism: each rank fits y = 3x + 1 on its own shard of the data; DataParallel
 * averages the gradients across ranks with one allreduce per step, so every rank keeps bit-identical
 * weights (checked with weightsHash). Alone (no launcher) it trains as a world of one.
 *
 *   npm run build && node dist/cli/main.js run --standalone --nproc-per-node 2 examples/tfjs.ts
 */
import * as tf from '@tensorflow/tfjs';
import { allGather, cleanupDistributed, setupDistributedEnvironment } from 'elastic-harness/collective';
import { DataParallel, useWasmBackend, weightsHash } from 'elastic-harness/tfjs';

await useWasmBackend(); // the wasm backend: faster than the plain JS one, and no tfjs-node needed

const { rank, worldSize } = await setupDistributedEnvironment({ timeoutMs: 30_000 });
const w = tf.variable(tf.scalar(Math.random()), true, 'w'); // a different start on every rank...
const b = tf.variable(tf.scalar(0), true, 'b');
const dp = new DataParallel(tf.train.sgd(0.5), [w, b]);
await dp.broadcastInitialWeights(0); // ...until rank 0's values are broadcast

// Rank r's shard: x in [r/worldSize, (r+1)/worldSize), 64 points.
const xs = tf.tensor1d(Array.from({ length: 64 }, (_, i) => (rank + i / 64) / worldSize));
const ys = xs.mul(3).add(1);
let loss = 0;
for (let step = 1; step <= 150; step++) {
  loss = await dp.step(() => tf.losses.meanSquaredError(ys, xs.mul(w).add(b)) as tf.Scalar);
}

const hash = weightsHash([w, b]);
const hashes = await allGather(Uint8Array.from(Buffer.from(hash, 'hex')));
const same = Buffer.from(hashes).toString('hex') === hash.repeat(worldSize);
console.log(`rank ${rank}/${worldSize}: w=${w.dataSync()[0].toFixed(3)} b=${b.dataSync()[0].toFixed(3)} local loss ${loss.toExponential(2)}, weights identical on all ranks: ${same}`);
if (!same) throw new Error('the ranks ended with different weights');
await cleanupDistributed();
