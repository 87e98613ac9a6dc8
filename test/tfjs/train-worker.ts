/** A real worker process for the tfjs data-parallel test: a small MLP trained on this rank's shard. */
import * as tf from '@tensorflow/tfjs';
import { setupDistributedEnvironment, cleanupDistributed, getProcessGroup, getRank, getWorldSize } from '../../src/collective/index.js';
import { DataParallel, useWasmBackend, weightsHash } from '../../src/tfjs/index.js';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`@@${JSON.stringify({ ...obj, at: Date.now() })}\n`);
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

async function main(): Promise<void> {
  await useWasmBackend();
  await setupDistributedEnvironment({ timeoutMs: 60_000 });
  const rank = getRank();
  const world = getWorldSize();
  const steps = Number(process.argv[2] ?? '15');
  // A hidden width of 2048 makes the flattened gradients 172 KB: past the direct path, through shared memory.
  const hidden = Number(process.argv[3] ?? '32');
  const [inDim, classes, batch] = [16, 4, 32];
  // Different initial weights per rank: the broadcast must make them equal.
  const vars = [
    tf.variable(tf.randomNormal([inDim, hidden], 0, 0.3, 'float32', 1 + rank), true, 'w1'),
    tf.variable(tf.zeros([hidden]), true, 'b1'),
    tf.variable(tf.randomNormal([hidden, classes], 0, 0.3, 'float32', 100 + rank), true, 'w2'),
    tf.variable(tf.zeros([classes]), true, 'b2'),
  ];
  emit({ type: 'init', hash: weightsHash(vars) });
  const dp = new DataParallel(tf.train.adam(0.01), vars);
  await dp.broadcastInitialWeights(0);
  emit({ type: 'step', step: -1, hash: weightsHash(vars) });
  // This rank's shard: inputs from its own seed, labels from a fixed teacher shared by all ranks.
  const teacher = rng(7);
  const tw = Array.from({ length: inDim * classes }, () => teacher() - 0.5);
  const data = rng(1000 + rank);
  for (let step = 0; step < steps; step++) {
    const xs = new Float32Array(batch * inDim);
    const ys = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      const scores = new Array<number>(classes).fill(0);
      for (let i = 0; i < inDim; i++) {
        const x = data() * 2 - 1;
        xs[b * inDim + i] = x;
        for (let c = 0; c < classes; c++) scores[c] += x * tw[i * classes + c];
      }
      ys[b] = scores.indexOf(Math.max(...scores));
    }
    const x = tf.tensor2d(xs, [batch, inDim]);
    const y = tf.oneHot(tf.tensor1d(ys, 'int32'), classes);
    const loss = await dp.step(() =>
      tf.tidy(() => {
        const h = tf.relu(tf.add(tf.matMul(x, vars[0]), vars[1]));
        const logits = tf.add(tf.matMul(h, vars[2]), vars[3]);
        return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      }),
    );
    tf.dispose([x, y]);
    emit({ type: 'step', step, hash: weightsHash(vars), loss, world, shm: getProcessGroup().usesSharedMemory });
  }
  await cleanupDistributed();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ type: 'fatal', message: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
    process.exit(1);
  },
);
