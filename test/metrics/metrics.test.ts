import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckpointValidationError, ConfigurationError } from '../../src/errors/index.js';
import { CheckpointMetrics, GradientMetrics, LRMetrics, RecoveryMetrics, TrainingMetrics } from '../../src/metrics/index.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000): { clock: () => number; advance: (s: number) => void } {
  let t = start;
  return { clock: () => t, advance: (s) => (t += s) };
}

test('CheckpointMetrics: averages and maxima per tier and overall, 0 when empty', () => {
  const c = new CheckpointMetrics();
  assert.equal(c.avgSaveTime('nvme'), 0);
  assert.equal(c.maxSaveTime(), 0);
  assert.equal(c.avgLoadTime(), 0);
  c.recordSave('nvme', 1.5, { bytes: 100 });
  c.recordSave('nvme', 2.5, { bytes: 50 });
  c.recordSave('s3', 45, { blocking: false });
  c.recordLoad('nvme', 0.8);
  c.recordLoad('s3', 30);
  assert.equal(c.avgSaveTime('nvme'), 2);
  assert.equal(c.avgSaveTime('s3'), 45);
  assert.equal(c.avgSaveTime(), 49 / 3);
  assert.equal(c.maxSaveTime(), 45);
  assert.equal(c.maxSaveTime('nvme'), 2.5);
  assert.equal(c.avgLoadTime('nvme'), 0.8);
  assert.equal(c.avgLoadTime(), 15.4);
  assert.equal(c.maxLoadTime(), 30);
  assert.equal(c.saveCount(), 3);
  assert.equal(c.loadCount('s3'), 1);
  assert.equal(c.bytesSaved('nvme'), 150);
  assert.equal(c.blockingSaveTime, 4, 'the async S3 upload did not pause training');
  assert.equal(c.avgSaveTime('memory'), 0);
  assert.deepEqual(c.tiers.sort(), ['nvme', 's3']);
});

test('CheckpointMetrics refuses negative or NaN durations and empty tiers', () => {
  const c = new CheckpointMetrics();
  assert.throws(() => c.recordSave('nvme', -1), (e: unknown) => e instanceof ConfigurationError && /duration.*-1/.test(e.message));
  assert.throws(() => c.recordLoad('nvme', Number.NaN), /duration.*NaN/);
  assert.throws(() => c.recordSave('', 1), /tier/);
  assert.equal(c.saveCount(), 0);
});

test('RecoveryMetrics: events, joins, failures, average', () => {
  const { clock, advance } = fakeClock();
  const r = new RecoveryMetrics(clock);
  assert.equal(r.avgRecoveryTime, 0);
  const e = r.recordRecovery({ oldWorldSize: 4, newWorldSize: 3, recoveryTime: 15, checkpointTier: 'nvme', stepResumed: 1000 });
  assert.deepEqual(e, { timestamp: 1_700_000_000, oldWorldSize: 4, newWorldSize: 3, recoveryTime: 15, checkpointTier: 'nvme', stepResumed: 1000, kind: 'failure' });
  advance(60);
  r.recordRecovery({ oldWorldSize: 3, newWorldSize: 4, recoveryTime: 5 });
  r.recordRecovery({ oldWorldSize: 4, newWorldSize: 4, recoveryTime: 1 }); // a worker died and was restarted
  r.recordRecovery({ oldWorldSize: 4, newWorldSize: 4, recoveryTime: 3, kind: 'join' });
  assert.equal(r.events.length, 4);
  assert.equal(r.events[1].timestamp, 1_700_000_060);
  assert.equal(r.events[1].checkpointTier, null);
  assert.equal(r.workerJoins, 2);
  assert.equal(r.workerFailures, 2);
  assert.equal(r.avgRecoveryTime, 6);
  assert.equal(r.maxRecoveryTime, 15);
  (r.events[0] as { recoveryTime: number }).recoveryTime = 999;
  assert.equal(r.events[0].recoveryTime, 15, 'events are copies');
  assert.throws(() => r.recordRecovery({ oldWorldSize: 4, newWorldSize: 2.5, recoveryTime: 1 }), /newWorldSize.*2.5/);
  assert.throws(() => r.recordRecovery({ oldWorldSize: 4, newWorldSize: 2, recoveryTime: -1 }), /recoveryTime.*-1/);
  assert.equal(r.events.length, 4);
});

test('GradientMetrics: clip frequency and magnitude; non-finite norms counted apart', () => {
  const g = new GradientMetrics();
  assert.equal(g.clipFrequency, 0);
  assert.equal(g.avgClipMagnitude, 0);
  g.recordStep({ clipped: true, gradNorm: 2.5 });
  g.recordStep({ clipped: true, gradNorm: 3.5 });
  g.recordStep({ clipped: false, gradNorm: 0.5 });
  g.recordStep({ clipped: false, gradNorm: 0.5 });
  assert.equal(g.clipFrequency, 0.5);
  assert.equal(g.avgClipMagnitude, 3);
  assert.equal(g.avgGradNorm, 7 / 4);
  assert.equal(g.maxGradNorm, 3.5);
  g.recordStep({ clipped: true, gradNorm: Number.NaN });
  assert.equal(g.nonFiniteSteps, 1);
  assert.equal(g.clipFrequency, 3 / 5);
  assert.equal(g.avgClipMagnitude, 3, 'the NaN step does not poison the average');
  assert.throws(() => g.recordStep({ clipped: 'yes' as never, gradNorm: 1 }), ConfigurationError);
});

test('LRMetrics records adjustments', () => {
  const { clock } = fakeClock(5);
  const l = new LRMetrics(clock);
  assert.equal(l.currentLr, null);
  l.recordAdjustment({ oldLr: 1e-4, newLr: 5e-5, reason: 'topology_change', step: 10 });
  assert.deepEqual(l.adjustments, [{ timestamp: 5, oldLr: 1e-4, newLr: 5e-5, reason: 'topology_change', step: 10 }]);
  assert.equal(l.currentLr, 5e-5);
  assert.throws(() => l.recordAdjustment({ oldLr: 1e-4, newLr: Number.NaN }), /newLr.*NaN/);
  assert.equal(l.count, 1);
});

test('TrainingMetrics: training time, throughput, efficiency with an injected clock', () => {
  const { clock, advance } = fakeClock();
  const m = new TrainingMetrics({ clock });
  assert.equal(m.trainingTime, 0);
  assert.equal(m.tokensPerSecond, 0);
  assert.equal(m.trainingEfficiency, 1);
  advance(100);
  m.updateStep(1000, 1_024_000);
  assert.equal(m.step, 1000);
  assert.equal(m.trainingTime, 100);
  assert.equal(m.tokensPerSecond, 10_240);
  m.recovery.recordRecovery({ oldWorldSize: 4, newWorldSize: 3, recoveryTime: 15 });
  m.checkpoint.recordSave('nvme', 5);
  m.checkpoint.recordSave('s3', 30, { blocking: false });
  assert.equal(m.trainingEfficiency, 0.8, '(100 - 15 recovering - 5 blocked saving) / 100');
  m.recovery.recordRecovery({ oldWorldSize: 3, newWorldSize: 4, recoveryTime: 500 });
  assert.equal(m.trainingEfficiency, 0, 'never below 0');
  assert.throws(() => m.updateStep(-1), (e: unknown) => e instanceof ConfigurationError && /step.*-1/.test(e.message));
  assert.throws(() => m.updateStep(1, 1.5), /tokensProcessed.*1.5/);
});

test('summary() and logSummary() report every figure', () => {
  const { clock, advance } = fakeClock();
  const m = new TrainingMetrics({ clock });
  advance(50);
  m.updateStep(200, 5000);
  m.checkpoint.recordSave('nvme', 2);
  m.checkpoint.recordLoad('nvme', 1);
  m.recovery.recordRecovery({ oldWorldSize: 2, newWorldSize: 1, recoveryTime: 5 });
  m.gradient.recordStep({ clipped: true, gradNorm: 4 });
  m.lr.recordAdjustment({ oldLr: 0.1, newLr: 0.05, reason: 'topology_change' });
  const s = m.summary();
  assert.equal(s.step, 200);
  assert.equal(s.trainingTime, 50);
  assert.equal(s.tokensPerSecond, 100);
  assert.equal(s.trainingEfficiency, 43 / 50);
  assert.deepEqual(s.checkpoint.tiers.nvme, { saves: 1, avgSaveTime: 2, maxSaveTime: 2, loads: 1, avgLoadTime: 1, maxLoadTime: 1 });
  assert.deepEqual(s.recovery, { events: 1, workerJoins: 0, workerFailures: 1, avgRecoveryTime: 5, maxRecoveryTime: 5, totalRecoveryTime: 5 });
  assert.equal(s.gradient.clipFrequency, 1);
  assert.deepEqual(s.lr, { adjustments: 1, currentLr: 0.05 });
  const lines: string[] = [];
  m.logSummary((l) => lines.push(l));
  const text = lines.join('\n');
  assert.match(text, /step 200/);
  assert.match(text, /efficiency 86\.0%/);
  assert.match(text, /nvme: 1 saves/);
  assert.match(text, /1 failures/);
  assert.match(text, /clipped 100\.0%/);
  const info: string[] = [];
  m.logSummary({ info: (l: string) => info.push(l) });
  assert.deepEqual(info, lines);
});

test('toJSON / fromJSON restore everything, and time keeps running from the original start', () => {
  const { clock, advance } = fakeClock();
  const m = new TrainingMetrics({ clock });
  advance(10);
  m.updateStep(50, 800);
  m.checkpoint.recordSave('memory', 0.01, { bytes: 10 });
  m.checkpoint.recordSave('s3', 3, { blocking: false });
  m.recovery.recordRecovery({ oldWorldSize: 2, newWorldSize: 3, recoveryTime: 1, checkpointTier: 'memory', stepResumed: 40 });
  m.gradient.recordStep({ clipped: true, gradNorm: Number.POSITIVE_INFINITY });
  m.gradient.recordStep({ clipped: false, gradNorm: 0.3 });
  m.lr.recordAdjustment({ oldLr: 1, newLr: 2, step: 41 });
  const json = JSON.parse(JSON.stringify(m));
  advance(10);
  const back = TrainingMetrics.fromJSON(json, { clock });
  assert.deepEqual(back.toJSON(), m.toJSON());
  assert.deepEqual(back.summary(), m.summary());
  assert.equal(back.trainingTime, 20);
});

test('fromJSON refuses malformed input with CheckpointValidationError naming the field', () => {
  const good = new TrainingMetrics({ clock: () => 1 }).toJSON();
  const bad: Array<[unknown, RegExp]> = [
    [null, /root/],
    [{ ...good, version: 2 }, /version 2/],
    [{ ...good, step: 'x' }, /root\.step/],
    [{ ...good, recovery: { events: 'none' } }, /recovery\.events/],
    [{ ...good, checkpoint: { ...good.checkpoint, saves: { nvme: { count: 1 } } } }, /checkpoint\.saves\.nvme\.totalTime/],
    [{ ...good, gradient: { ...good.gradient, steps: Number.NaN } }, /gradient\.steps/],
  ];
  for (const [value, re] of bad) {
    assert.throws(() => TrainingMetrics.fromJSON(value), (e: unknown) => e instanceof CheckpointValidationError && re.test(e.message), String(re));
  }
});
