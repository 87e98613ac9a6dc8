import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigurationError, CheckpointValidationError, TopologyChangeError } from '../../src/errors/index.js';
import { GradAccumulationConfig, GradientAccumulationManager, type RoundingMode } from '../../src/scaling/index.js';

const make = (roundingMode: RoundingMode, o: Partial<{ t: number; l: number; w: number }> = {}): GradientAccumulationManager =>
  new GradientAccumulationManager(new GradAccumulationConfig({ targetGlobalBatchSize: o.t ?? 1024, localBatchSize: o.l ?? 32, baseWorldSize: o.w ?? 4, roundingMode }));

test('1024 / (32 x 4) = 8 steps; 4 -> 3 workers gives 11 with ceil, 10 with floor, 11 with nearest', () => {
  const ceil = make('ceil');
  assert.equal(ceil.accumulationSteps, 8);
  assert.equal(ceil.effectiveBatchSize, 1024);
  assert.equal(ceil.onTopologyChange(3), 11);
  assert.equal(ceil.accumulationSteps, 11);
  assert.equal(ceil.effectiveBatchSize, 11 * 32 * 3);
  assert.equal(ceil.lossScaleFactor, 11);
  const floor = make('floor');
  assert.equal(floor.onTopologyChange(3), 10);
  assert.equal(floor.effectiveBatchSize, 960);
  assert.equal(make('nearest').onTopologyChange(3), 11);
});

test('default rounding mode is ceil', () => {
  const m = new GradientAccumulationManager(new GradAccumulationConfig({ targetGlobalBatchSize: 1024, localBatchSize: 32, baseWorldSize: 3 }));
  assert.equal(m.config.roundingMode, 'ceil');
  assert.equal(m.accumulationSteps, 11);
});

test('nearest rounds halves up and below-half down', () => {
  assert.equal(make('nearest', { t: 100, l: 8, w: 5 }).accumulationSteps, 3); // 2.5
  assert.equal(make('floor', { t: 100, l: 8, w: 5 }).accumulationSteps, 2);
  assert.equal(make('nearest', { t: 100, l: 8, w: 6 }).accumulationSteps, 2); // 2.08
  assert.equal(make('ceil', { t: 100, l: 8, w: 6 }).accumulationSteps, 3);
});

test('never fewer than one step, whatever the rounding', () => {
  for (const mode of ['ceil', 'floor', 'nearest'] as const) {
    const m = make(mode, { t: 64, l: 32, w: 1 });
    assert.equal(m.accumulationSteps, 2);
    assert.equal(m.onTopologyChange(16), 1, mode);
    assert.equal(m.onTopologyChange(1000), 1, mode);
  }
});

test('the initial count uses the same rounding mode as later changes', () => {
  assert.equal(make('ceil', { w: 3 }).accumulationSteps, 11);
  assert.equal(make('floor', { w: 3 }).accumulationSteps, 10);
  assert.equal(make('nearest', { w: 3 }).accumulationSteps, 11);
});

test('shouldStep is true every accumulationSteps micro-batches; reset and topology changes restart the count', () => {
  const m = make('ceil', { t: 96, l: 32, w: 1 }); // 3 steps
  const pattern = Array.from({ length: 7 }, () => m.shouldStep());
  assert.deepEqual(pattern, [false, false, true, false, false, true, false]);
  assert.equal(m.currentMicroStep, 1);
  m.reset();
  assert.equal(m.currentMicroStep, 0);
  m.shouldStep();
  m.onTopologyChange(3); // 1 step
  assert.equal(m.currentMicroStep, 0);
  assert.equal(m.shouldStep(), true);
});

test('stateDict / loadStateDict round-trip exactly, also through JSON', () => {
  const a = make('floor');
  a.onTopologyChange(3);
  a.shouldStep();
  a.shouldStep();
  const b = make('floor');
  b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
  assert.deepEqual(b.stateDict(), a.stateDict());
  assert.deepEqual(b.stateDict(), { accumulationSteps: 10, worldSize: 3, microStep: 2 });
  const seqA = Array.from({ length: 25 }, () => a.shouldStep());
  const seqB = Array.from({ length: 25 }, () => b.shouldStep());
  assert.deepEqual(seqB, seqA);
});

test('bad configuration values raise ConfigurationError naming the key and value', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ targetGlobalBatchSize: 0, localBatchSize: 32, baseWorldSize: 4 }, /targetGlobalBatchSize.*got 0/],
    [{ targetGlobalBatchSize: 1024, localBatchSize: -8, baseWorldSize: 4 }, /localBatchSize.*got -8/],
    [{ targetGlobalBatchSize: 1024, localBatchSize: 32, baseWorldSize: 0 }, /baseWorldSize.*got 0/],
    [{ targetGlobalBatchSize: 1024, localBatchSize: 2.5, baseWorldSize: 4 }, /localBatchSize.*got 2.5/],
    [{ targetGlobalBatchSize: Number.NaN, localBatchSize: 32, baseWorldSize: 4 }, /targetGlobalBatchSize.*got NaN/],
    [{ targetGlobalBatchSize: 1024, localBatchSize: 32, baseWorldSize: 4, roundingMode: 'up' }, /roundingMode.*"up"/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(() => new GradAccumulationConfig(opts as never), (e: unknown) => e instanceof ConfigurationError && re.test(e.message), JSON.stringify(opts));
  }
});

test('a bad new world size raises TopologyChangeError with both sizes and leaves the manager unchanged', () => {
  const m = make('ceil');
  for (const bad of [0, -2, 1.5, Number.NaN]) {
    assert.throws(
      () => m.onTopologyChange(bad),
      (e: unknown) => e instanceof TopologyChangeError && e.oldWorldSize === 4 && Object.is(e.newWorldSize, bad) && e.message.includes(String(bad)),
    );
  }
  assert.deepEqual(m.stateDict(), { accumulationSteps: 8, worldSize: 4, microStep: 0 });
});

test('a corrupt state dict raises CheckpointValidationError and changes nothing', () => {
  const m = make('ceil');
  assert.throws(() => m.loadStateDict({ accumulationSteps: 0, worldSize: 3, microStep: 0 }), (e: unknown) => e instanceof CheckpointValidationError && e.invalidKeys.includes('accumulationSteps'));
  assert.throws(() => m.loadStateDict({ worldSize: 3, microStep: 0 } as never), (e: unknown) => e instanceof CheckpointValidationError && e.missingKeys.includes('accumulationSteps'));
  assert.throws(() => m.loadStateDict(null as never), CheckpointValidationError);
  assert.deepEqual(m.stateDict(), { accumulationSteps: 8, worldSize: 4, microStep: 0 });
});
