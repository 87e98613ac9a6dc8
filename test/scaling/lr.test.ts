import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckpointValidationError, ConfigurationError, TopologyChangeError } from '../../src/errors/index.js';
import { LRScalingManager, ScalingConfig, ScalingRule, WarmupScheduler, lrSetterFor, type ScalingConfigOptions } from '../../src/scaling/index.js';

const close = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), msg ?? `${a} != ${b}`);

const config = (o: Partial<ScalingConfigOptions> = {}): ScalingConfig => new ScalingConfig({ baseLr: 1e-4, baseBatchSize: 8, baseWorldSize: 4, ...o });

test('ScalingConfig defaults and baseEffectiveBatchSize', () => {
  const c = config();
  assert.equal(c.scalingRule, ScalingRule.LINEAR);
  assert.equal(c.warmupSteps, 100);
  assert.equal(c.minLr, 1e-7);
  assert.equal(c.maxLr, 1e-2);
  assert.equal(c.baseEffectiveBatchSize, 32);
});

test('LINEAR 32 -> 64 doubles the LR, SQRT 32 -> 128 doubles it, NONE keeps it', () => {
  close(new LRScalingManager(config({ scalingRule: ScalingRule.LINEAR })).getScaledLr(1e-3, 32, 64), 2e-3);
  close(new LRScalingManager(config({ scalingRule: ScalingRule.SQRT })).getScaledLr(1e-3, 32, 128), 2e-3);
  close(new LRScalingManager(config({ scalingRule: ScalingRule.NONE })).getScaledLr(1e-3, 32, 128), 1e-3);
});

test('base 1e-4, batch 8, world 4 -> world 2 gives 5e-5 (no warm-up: at once, also on the optimizer)', () => {
  const opt = { learningRate: 0 };
  const m = new LRScalingManager(config({ warmupSteps: 0 }), opt);
  assert.equal(opt.learningRate, 1e-4, 'the base rate is applied at construction');
  const lr = m.onTopologyChange(2);
  close(lr, 5e-5);
  close(m.currentLr, 5e-5);
  close(opt.learningRate, 5e-5);
  assert.equal(m.isWarmingUp, false);
  assert.equal(m.currentEffectiveBatchSize, 16);
  assert.equal(m.currentWorldSize, 2);
});

test('a new per-worker batch size counts too', () => {
  const m = new LRScalingManager(config({ warmupSteps: 0 }));
  close(m.onTopologyChange(4, 16), 2e-4);
  assert.equal(m.currentBatchSize, 16);
  close(m.onTopologyChange(2), 1e-4, 'the batch size stays at 16');
});

test('results are clamped to [minLr, maxLr]', () => {
  const m = new LRScalingManager(config({ warmupSteps: 0, minLr: 4e-5, maxLr: 2e-4 }));
  assert.equal(m.onTopologyChange(64), 2e-4);
  assert.equal(m.onTopologyChange(1), 4e-5);
  assert.equal(m.getScaledLr(1, 1, 1000), 2e-4);
  const base = new LRScalingManager(config({ baseLr: 1, maxLr: 0.5 }));
  assert.equal(base.currentLr, 0.5, 'the base rate is clamped too');
});

test('warm-up moves linearly from the old to the new LR over warmupSteps step() calls and ends exactly on target', () => {
  const seen: number[] = [];
  const m = new LRScalingManager(config({ warmupSteps: 4, baseLr: 0.1, maxLr: 1 }), (lr: number) => seen.push(lr));
  seen.length = 0;
  const target = m.onTopologyChange(12); // 0.1 * 96/32 = 0.3 (not exact in binary)
  assert.equal(target, 0.1 * (96 / 32));
  assert.equal(m.isWarmingUp, true);
  assert.equal(m.currentLr, 0.1, 'nothing changes before the first step()');
  assert.deepEqual(seen, [], 'the optimizer keeps the old rate until step()');
  const lrs = [m.step(), m.step(), m.step(), m.step()];
  close(lrs[0], 0.1 + 0.2 * 0.25);
  close(lrs[1], 0.1 + 0.2 * 0.5);
  close(lrs[2], 0.1 + 0.2 * 0.75);
  assert.equal(lrs[3], target, 'exactly the target');
  assert.deepEqual(seen, lrs);
  assert.equal(m.isWarmingUp, false);
  assert.equal(m.step(), target, 'further steps keep it');
  assert.equal(seen.length, 4, 'and do not touch the optimizer');
});

test('a change during a warm-up starts the new warm-up from the current LR', () => {
  const m = new LRScalingManager(config({ warmupSteps: 2, baseLr: 0.1, maxLr: 1 }));
  m.onTopologyChange(8); // target 0.2
  close(m.step(), 0.15);
  m.onTopologyChange(2); // target 0.05
  close(m.step(), 0.1);
  close(m.step(), 0.05);
});

test('stateDict / loadStateDict round-trip mid warm-up exactly and re-apply the LR to the optimizer', () => {
  const a = new LRScalingManager(config({ warmupSteps: 10 }));
  a.onTopologyChange(7);
  for (let i = 0; i < 3; i++) a.step();
  const saved = JSON.parse(JSON.stringify(a.stateDict()));
  const opt = { learningRate: 123 };
  const b = new LRScalingManager(config({ warmupSteps: 10 }), opt);
  b.loadStateDict(saved);
  assert.deepEqual(b.stateDict(), a.stateDict());
  assert.equal(opt.learningRate, a.currentLr);
  assert.equal(b.isWarmingUp, true);
  for (let i = 0; i < 12; i++) assert.equal(b.step(), a.step());
  assert.equal(opt.learningRate, a.currentLr);
});

test('bad arguments raise ConfigurationError / TopologyChangeError with the offending value', () => {
  assert.throws(() => config({ baseLr: Number.NaN }), (e: unknown) => e instanceof ConfigurationError && /baseLr.*NaN/.test(e.message) && e.configKey === 'baseLr');
  assert.throws(() => config({ baseLr: -1 }), /baseLr.*-1/);
  assert.throws(() => config({ baseBatchSize: 0 }), (e: unknown) => e instanceof ConfigurationError && /baseBatchSize.*got 0/.test(e.message));
  assert.throws(() => config({ baseWorldSize: 0 }), (e: unknown) => e instanceof ConfigurationError && /baseWorldSize.*got 0/.test(e.message));
  assert.throws(() => config({ warmupSteps: -1 }), /warmupSteps.*-1/);
  assert.throws(() => config({ minLr: 1, maxLr: 0.1 }), /minLr \(1\) must not exceed maxLr \(0.1\)/);
  assert.throws(() => config({ scalingRule: 'cubic' as never }), /scalingRule.*"cubic"/);
  const m = new LRScalingManager(config());
  assert.throws(() => m.onTopologyChange(0), (e: unknown) => e instanceof TopologyChangeError && e.newWorldSize === 0 && e.oldWorldSize === 4 && /got 0/.test(e.message));
  assert.throws(() => m.onTopologyChange(-3), TopologyChangeError);
  assert.throws(() => m.onTopologyChange(2, 0), (e: unknown) => e instanceof ConfigurationError && /batchSize.*got 0/.test(e.message));
  assert.throws(() => m.getScaledLr(1e-4, 0, 8), /oldBatch.*got 0/);
  assert.equal(m.currentWorldSize, 4, 'failed calls change nothing');
  assert.throws(() => new LRScalingManager(config(), {}), (e: unknown) => e instanceof ConfigurationError && /settable learning rate/.test(e.message));
  assert.throws(() => m.loadStateDict({ currentLr: Number.NaN, worldSize: 2, batchSize: 8, warmup: null }), CheckpointValidationError);
  assert.throws(() => m.loadStateDict({ currentLr: 1e-4, worldSize: 0, batchSize: 8, warmup: null }), (e: unknown) => e instanceof CheckpointValidationError && e.invalidKeys.includes('worldSize'));
  assert.equal(m.currentWorldSize, 4);
});

test('WarmupScheduler interpolates and validates', () => {
  const s = new WarmupScheduler({ startLr: 1e-6, targetLr: 1e-4, warmupSteps: 100 });
  close(s.getLr(50), 1e-6 + (1e-4 - 1e-6) / 2);
  assert.equal(s.getLr(0), 1e-6);
  assert.equal(s.getLr(100), 1e-4);
  assert.equal(s.getLr(1000), 1e-4);
  assert.equal(new WarmupScheduler({ startLr: 1, targetLr: 2, warmupSteps: 0 }).getLr(0), 2);
  assert.throws(() => new WarmupScheduler({ startLr: Number.NaN, targetLr: 2, warmupSteps: 1 }), /startLr.*NaN/);
  assert.throws(() => new WarmupScheduler({ startLr: 1, targetLr: 2, warmupSteps: 1.5 }), /warmupSteps.*1.5/);
  assert.throws(() => s.getLr(Number.NaN), ConfigurationError);
});

test('lrSetterFor prefers setLearningRate (tfjs SGD caches its rate) over the learningRate field', () => {
  const calls: number[] = [];
  const sgdLike = { learningRate: 1, setLearningRate(lr: number) { calls.push(lr); this.learningRate = lr; } };
  lrSetterFor(sgdLike)(0.5);
  assert.deepEqual(calls, [0.5]);
  const adamLike = { learningRate: 1 };
  lrSetterFor(adamLike)(0.25);
  assert.equal(adamLike.learningRate, 0.25);
  assert.throws(() => lrSetterFor({ learningRate: 'fast' }), ConfigurationError);
});
