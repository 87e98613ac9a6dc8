import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointValidationError } from '../../src/errors/index.js';
import { CheckpointManager, CheckpointTier, createCheckpointState, loadCheckpointToModel, stateAdapterFor, type StateDict, type Tensor } from '../../src/checkpoint/index.js';
// Importing the tfjs part registers its checkpoint adapter: the checkpoint part itself never loads TensorFlow.js.
import { tfjsStateAdapter } from '../../src/tfjs/index.js';

function makeModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 16, inputShape: [6], activation: 'tanh', name: 'hidden' }));
  m.add(tf.layers.dense({ units: 3, name: 'out' }));
  return m;
}

const xs = tf.tensor2d(Array.from({ length: 32 * 6 }, (_, i) => Math.sin(i * 0.37)), [32, 6]);
const ys = tf.tensor2d(Array.from({ length: 32 * 3 }, (_, i) => Math.cos(i * 0.11)), [32, 3]);

function train(model: tf.Sequential, opt: tf.Optimizer, steps: number): void {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  for (let i = 0; i < steps; i++) opt.minimize(() => tf.losses.meanSquaredError(ys, model.predict(xs) as tf.Tensor) as tf.Scalar, false, vars);
}

function weightBytes(model: tf.Sequential): Buffer[] {
  return model.getWeights().map((t) => Buffer.from((t.dataSync() as Float32Array).slice().buffer));
}

test('tfjs: train N, save, train M  ==  load into a fresh model and Adam, train M (bit-identical, accBeta1/accBeta2 included)', async () => {
  assert.equal(await tf.setBackend('cpu'), true);
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-ckpt-tfjs-'));
  try {
    const a = makeModel();
    const optA = tf.train.adam(0.01);
    train(a, optA, 13); // after 13 steps the running accBeta1/accBeta2 differ from pow(beta, 14) in the last bit
    const manager = new CheckpointManager({ nvmePath: dir });
    const sched = { lr: 0.01, stateDict: () => ({ lr: sched.lr }), loadStateDict: (s: StateDict) => void (sched.lr = s.lr as number) };
    await manager.saveCheckpoint(await createCheckpointState({ step: 13, model: a, optimizer: optA, lrScheduler: sched, datasetState: { position: 224 } }), CheckpointTier.NVME);
    train(a, optA, 5);
    assert.equal(await manager.waitForPendingSaves(30_000), true);

    const b = makeModel();
    const optB = tf.train.adam(0.01);
    const sched2 = { lr: 0, stateDict: () => ({ lr: sched2.lr }), loadStateDict: (s: StateDict) => void (sched2.lr = s.lr as number) };
    const state = await manager.loadCheckpoint();
    assert.equal(state?.step, 13);
    assert.deepEqual(Object.keys(state!.modelStateDict).sort(), ['hidden/bias', 'hidden/kernel', 'out/bias', 'out/kernel']);
    assert.ok('accBeta1' in (state!.optimizerStateDict.extraVariables as StateDict));
    await loadCheckpointToModel(state!, { model: b, optimizer: optB, lrScheduler: sched2 });
    assert.equal(sched2.lr, 0.01);
    assert.equal(optB.iterations, 13);
    train(b, optB, 5);
    const wa = weightBytes(a);
    const wb = weightBytes(b);
    assert.equal(wa.length, wb.length);
    for (let i = 0; i < wa.length; i++) assert.ok(wa[i].equals(wb[i]), `weight ${i} differs after resume`);

    // Control: the same resume without the running accBeta1/accBeta2 (what setWeights() alone gives) is not bit-exact.
    const c = makeModel();
    const optC = tf.train.adam(0.01);
    const partial = (await manager.loadCheckpoint())!;
    delete partial.optimizerStateDict.extraVariables;
    await loadCheckpointToModel(partial, { model: c, optimizer: optC, strict: false });
    train(c, optC, 5);
    assert.ok(weightBytes(c).some((w, i) => !w.equals(wa[i])), 'without accBeta the resume should differ in the last bits');
    await manager.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadCheckpointToModel: strict key matching for tfjs models and plain state dicts, in-place copy into plain dicts', async () => {
  assert.equal(await tf.setBackend('cpu'), true);
  const m = makeModel();
  const state = await createCheckpointState({ step: 1, model: m });
  delete state.modelStateDict['out/bias'];
  await assert.rejects(loadCheckpointToModel(state, { model: makeModel() }), (e: unknown) => e instanceof CheckpointValidationError && e.missingKeys.includes('out/bias'));
  await loadCheckpointToModel(state, { model: makeModel(), strict: false });

  const live: StateDict = { w: { dtype: 'F32', shape: [2], data: new Float32Array([0, 0]) }, cfg: { depth: 1 } };
  const saved = await createCheckpointState({ step: 2, model: { w: { dtype: 'F32', shape: [2], data: new Float32Array([5, 6]) }, cfg: { depth: 3 } } });
  const target = live.w as Tensor;
  await loadCheckpointToModel(saved, { model: live });
  assert.deepEqual(Array.from(target.data as Float32Array), [5, 6]);
  assert.deepEqual(live.cfg, { depth: 3 });
  const wrong = await createCheckpointState({ step: 3, model: { w: { dtype: 'F32', shape: [3], data: new Float32Array(3) } } });
  await assert.rejects(loadCheckpointToModel(wrong, { model: live }), CheckpointValidationError);
  const extra = await createCheckpointState({ step: 3, model: { w: saved.modelStateDict.w, other: 1 } });
  await assert.rejects(loadCheckpointToModel(extra, { model: live }), (e: unknown) => e instanceof CheckpointValidationError && e.invalidKeys.includes('other'));
});

test('createCheckpointState({model: DataParallel}) saves the wrapped variables, as the reference unwraps DDP; loading into one restores them', async () => {
  assert.equal(await tf.setBackend('cpu'), true);
  const { DataParallel } = await import('../../src/tfjs/index.js');
  const m = makeModel();
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  const dp = new DataParallel(tf.train.adam(0.01), vars);
  const wrapped = await createCheckpointState({ step: 1, model: dp });
  const plain = await createCheckpointState({ step: 1, model: vars });
  assert.deepEqual(Object.keys(wrapped.modelStateDict).sort(), Object.keys(plain.modelStateDict).sort());
  assert.ok(Object.keys(wrapped.modelStateDict).length > 0);
  const before = weightBytes(m);
  for (const v of vars) v.assign(tf.zerosLike(v));
  await loadCheckpointToModel(wrapped, { model: dp });
  assert.deepEqual(weightBytes(m), before);
});

test('the tfjs adapter is registered by importing elastic-harness/tfjs; an object no adapter takes is a clear error, not a silent empty state', async () => {
  assert.equal(stateAdapterFor(tf.train.adam(0.1)), tfjsStateAdapter);
  assert.equal(stateAdapterFor({ w: 1 }), undefined);
  class Opaque {
    weights = [1, 2];
  }
  await assert.rejects(createCheckpointState({ step: 1, model: new Opaque() }), (e: unknown) => e instanceof CheckpointValidationError && /no framework adapter/.test(e.message) && e.suggestions.some((s) => s.includes('elastic-harness/tfjs')));
});
