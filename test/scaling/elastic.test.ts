import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckpointValidationError, ConfigurationError, TopologyChangeError } from '../../src/errors/index.js';
import { ElasticScalingManager, GradAccumulationConfig, ScalingConfig } from '../../src/scaling/index.js';

const lrConfig = (warmupSteps = 0): ScalingConfig => new ScalingConfig({ baseLr: 1e-4, baseBatchSize: 32, baseWorldSize: 4, warmupSteps });
const accumConfig = (): GradAccumulationConfig => new GradAccumulationConfig({ targetGlobalBatchSize: 1024, localBatchSize: 32, baseWorldSize: 4 });

test('constant_batch: accumulation follows the world, the LR stays put', () => {
  const opt = { learningRate: 0 };
  const m = new ElasticScalingManager({ lrConfig: lrConfig(), accumConfig: accumConfig(), optimizer: opt, strategy: 'constant_batch' });
  assert.equal(m.accumulationSteps, 8);
  assert.equal(opt.learningRate, 1e-4);
  const r = m.onTopologyChange(3);
  assert.deepEqual(r, { worldSize: 3, lr: 1e-4, accumulationSteps: 11, effectiveBatchSize: 1056 });
  assert.equal(opt.learningRate, 1e-4);
  assert.equal(m.worldSize, 3);
  assert.equal(m.lossScaleFactor, 11);
  const steps = Array.from({ length: 22 }, () => m.shouldStep()).filter(Boolean).length;
  assert.equal(steps, 2);
});

test('variable_batch: the LR follows the global batch, one micro-batch per step', () => {
  const opt = { learningRate: 0 };
  const m = new ElasticScalingManager({ lrConfig: lrConfig(), optimizer: opt, strategy: 'variable_batch' });
  const r = m.onTopologyChange(2);
  assert.equal(r.accumulationSteps, 1);
  assert.equal(r.effectiveBatchSize, 64);
  assert.ok(Math.abs(r.lr - 5e-5) < 1e-18);
  assert.equal(opt.learningRate, r.lr);
  assert.equal(m.shouldStep(), true);
});

test('variable_batch with warm-up: stepLr walks the optimizer to the target', () => {
  const opt = { learningRate: 0 };
  const m = new ElasticScalingManager({ lrConfig: lrConfig(2), optimizer: opt });
  assert.equal(m.strategy, 'variable_batch');
  const r = m.onTopologyChange(8);
  assert.equal(r.lr, 2e-4);
  assert.equal(opt.learningRate, 1e-4);
  assert.equal(m.isWarmingUp, true);
  m.stepLr();
  assert.ok(Math.abs(opt.learningRate - 1.5e-4) < 1e-18);
  m.stepLr();
  assert.equal(opt.learningRate, 2e-4);
});

test('stateDict / loadStateDict round-trip both managers and re-apply the LR', () => {
  const a = new ElasticScalingManager({ lrConfig: lrConfig(), accumConfig: accumConfig(), strategy: 'constant_batch' });
  a.onTopologyChange(3);
  a.shouldStep();
  const opt = { learningRate: 7 };
  const b = new ElasticScalingManager({ lrConfig: lrConfig(), accumConfig: accumConfig(), optimizer: opt, strategy: 'constant_batch' });
  b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
  assert.deepEqual(b.stateDict(), a.stateDict());
  assert.equal(b.accumulationSteps, 11);
  assert.equal(opt.learningRate, 1e-4);
});

test('bad strategies, missing or mismatched accumConfig, bad sizes and foreign state are refused', () => {
  assert.throws(() => new ElasticScalingManager({ lrConfig: lrConfig(), strategy: 'elastic' as never }), (e: unknown) => e instanceof ConfigurationError && e.configKey === 'scaling.strategy' && /"elastic"/.test(e.message) && /variable_batch/.test(e.message));
  assert.throws(() => new ElasticScalingManager({ lrConfig: lrConfig(), strategy: 'constant_batch' }), (e: unknown) => e instanceof ConfigurationError && /target_global_batch_size/.test(e.message));
  const other = new GradAccumulationConfig({ targetGlobalBatchSize: 1024, localBatchSize: 32, baseWorldSize: 2 });
  assert.throws(() => new ElasticScalingManager({ lrConfig: lrConfig(), accumConfig: other, strategy: 'constant_batch' }), /baseWorldSize \(4\).*\(2\)/);
  const m = new ElasticScalingManager({ lrConfig: lrConfig(), accumConfig: accumConfig(), strategy: 'constant_batch' });
  assert.throws(() => m.onTopologyChange(0), (e: unknown) => e instanceof TopologyChangeError && e.newWorldSize === 0);
  assert.equal(m.worldSize, 4);
  assert.equal(m.accumulationSteps, 8);
  const v = new ElasticScalingManager({ lrConfig: lrConfig() });
  assert.throws(() => m.loadStateDict(v.stateDict()), (e: unknown) => e instanceof CheckpointValidationError && e.invalidKeys.includes('strategy'));
  const good = m.stateDict();
  const half = { ...good, accumulation: { accumulationSteps: 5, worldSize: 6, microStep: 0 }, lr: { ...good.lr, worldSize: -1 } };
  assert.throws(() => m.loadStateDict(half), CheckpointValidationError);
  assert.deepEqual(m.stateDict(), good, 'a failed load restores nothing partially');
});
