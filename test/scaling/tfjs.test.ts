import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LRScalingManager, ScalingConfig, createLrSchedulerWithWarmup } from '../../src/scaling/index.js';

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
