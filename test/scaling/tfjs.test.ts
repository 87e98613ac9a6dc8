import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GradAccumulationConfig, GradientAccumulationManager, LRScalingManager, ScalingConfig, createLrSchedulerWithWarmup } from '../../src/scaling/index.js';

// Proof on real TensorFlow.js optimizers that the rate we set is the one their next update uses.
// With x = 1 and d(x)/dx = 1: SGD moves x by exactly lr; Adam's first step moves it by lr * 1/(1 + eps) ~ lr.
async function oneUpdate(opt: tf.Optimizer): Promise<number> {
  const x = tf.variable(tf.scalar(1));
  opt.minimize(() => x.sum() as tf.Scalar, false, [x]);
  const moved = 1 - (await x.data())[0];
  x.dispose();
  return moved;
}

test('LRScalingManager drives real tfjs SGD and Adam optimizers', async () => {
  assert.equal(await tf.setBackend('cpu'), true);
  const config = new ScalingConfig({ baseLr: 0.01, baseBatchSize: 8, baseWorldSize: 4, warmupSteps: 0 });
  for (const make of [() => tf.train.sgd(0.5), () => tf.train.adam(0.5)]) {
    const before = make();
    const m = new LRScalingManager(config, before);
    const a = await oneUpdate(before);
    assert.ok(Math.abs(a - 0.01) < 1e-5, `base rate reached the optimizer: moved ${a}`);
    const after = make();
    const m2 = new LRScalingManager(config, after);
    m2.onTopologyChange(2); // 4 -> 2 workers: LINEAR halves it
    const b = await oneUpdate(after);
    assert.ok(Math.abs(b - 0.005) < 1e-5, `halved rate reached the optimizer: moved ${b}`);
    assert.equal(m.currentLr, 0.01);
    before.dispose();
    after.dispose();
  }
});

test('createLrSchedulerWithWarmup reads the peak rate from a tfjs optimizer and sets it each step', async () => {
  assert.equal(await tf.setBackend('cpu'), true);
  const opt = tf.train.sgd(0.2);
  const s = createLrSchedulerWithWarmup({ optimizer: opt, warmupSteps: 4, totalSteps: 8 });
  assert.equal(s.stateDict().baseLr, 0.2);
  s.step();
  s.step(); // 0.1
  const moved = await oneUpdate(opt);
  assert.ok(Math.abs(moved - 0.1) < 1e-6, `moved ${moved}`);
  opt.dispose();
});

test('accumulating micro-batch gradients scaled by lossScaleFactor gives the full-batch gradient (real tfjs)', async () => {
  assert.equal(await tf.setBackend('cpu'), true);
  const n = 96;
  const xs = tf.tensor2d(Array.from({ length: n * 4 }, (_, i) => Math.sin(i * 0.37)), [n, 4]);
  const ys = tf.tensor2d(Array.from({ length: n }, (_, i) => Math.cos(i * 0.11)), [n, 1]);
  const w = tf.variable(tf.tensor2d([[0.1], [-0.2], [0.3], [0.05]]), true, 'w');
  const lossOf = (x: tf.Tensor2D, y: tf.Tensor2D) => () => tf.losses.meanSquaredError(y, tf.matMul(x, w)) as tf.Scalar;
  const full = tf.variableGrads(lossOf(xs, ys), [w]);
  const fullGrad = await full.grads.w.data();

  const accum = new GradientAccumulationManager(new GradAccumulationConfig({ targetGlobalBatchSize: n, localBatchSize: 32, baseWorldSize: 1 }));
  assert.equal(accum.accumulationSteps, 3);
  let sum: tf.Tensor = tf.zeros(w.shape);
  let stepped = 0;
  for (let b = 0; b < 3; b++) {
    const x = xs.slice([b * 32, 0], [32, 4]);
    const y = ys.slice([b * 32, 0], [32, 1]);
    const loss = lossOf(x, y);
    const g = tf.variableGrads(() => tf.div(loss(), accum.lossScaleFactor) as tf.Scalar, [w]);
    const next = tf.add(sum, g.grads.w);
    sum.dispose();
    sum = next;
    if (accum.shouldStep()) stepped += 1;
  }
  assert.equal(stepped, 1, 'one optimizer step after three micro-batches');
  const got = await sum.data();
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(got[i] - fullGrad[i]) < 1e-6, `${got[i]} vs ${fullGrad[i]}`);
  tf.dispose([xs, ys, w, sum, full.grads.w, full.value]);
});
