/** A real worker for the DataParallel zero-copy test: a linear model of 40 000 weights (160 KB of gradients, past the direct path). */
import * as tf from '@tensorflow/tfjs';
import { setupDistributedEnvironment, cleanupDistributed, getProcessGroup, getRank } from '../../src/collective/index.js';
import { DataParallel, weightsHash } from '../../src/tfjs/index.js';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`@@${JSON.stringify({ ...obj, at: Date.now() })}\n`);
}

/** Seeded values in [-1, 1) (an LCG), so every run and rank can make the same data. */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  await setupDistributedEnvironment({ timeoutMs: 60_000 });
  const rank = getRank();
  const w = tf.variable(tf.tensor2d(values(40_000, 3 + rank), [200, 200]), true, 'w');
  const dp = new DataParallel(tf.train.sgd(0.01), [w]);
  await dp.broadcastInitialWeights(0);
  const hashes: string[] = [];
  for (let step = 0; step < 3; step++) {
    const x = tf.tensor2d(values(1600, 10 * step + rank), [8, 200]);
    const y = tf.tensor2d(values(1600, 1000 + 10 * step + rank), [8, 200]);
    await dp.step(() => tf.tidy(() => tf.mean(tf.square(tf.sub(tf.matMul(x, w), y))) as tf.Scalar));
    tf.dispose([x, y]);
    hashes.push(weightsHash([w]));
  }
  emit({ type: 'trained', hashes, sharedGradients: dp.sharedGradients, usesSharedMemory: getProcessGroup().usesSharedMemory });
  await cleanupDistributed();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ type: 'fatal', message: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
    process.exit(1);
  },
);
