import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckpointValidationError, ConfigurationError } from '../../src/errors/index.js';
import { createLrSchedulerWithWarmup } from '../../src/scaling/index.js';

const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) <= 1e-15, `${a} != ${b}`);

test('linear warm-up from 0, then cosine decay floored at minLr', () => {
  const opt = { learningRate: 1e-3 };
  const s = createLrSchedulerWithWarmup({ optimizer: opt, warmupSteps: 10, totalSteps: 110, minLr: 1e-4 });
  assert.equal(opt.learningRate, 0, 'step 0 applies lr 0 at once');
  assert.equal(s.getLr(), 0);
  const lrs = [0];
  for (let i = 1; i <= 130; i++) lrs.push(s.step());
  assert.equal(s.lastStep, 130);
  close(lrs[5], 5e-4);
  assert.equal(lrs[10], 1e-3, 'peak at the end of warm-up');
  close(lrs[60], 5e-4); // half-way through the cosine
  for (let i = 11; i <= 130; i++) assert.ok(lrs[i] <= lrs[i - 1], `non-increasing at ${i}`);
  assert.equal(lrs[110], 1e-4);
  assert.equal(lrs[130], 1e-4, 'held at the floor after totalSteps');
  assert.ok(lrs.slice(11).every((v) => v >= 1e-4));
  assert.equal(opt.learningRate, 1e-4);
});

test('state round-trip restores the step and re-applies the LR', () => {
  const a = createLrSchedulerWithWarmup({ optimizer: () => undefined, baseLr: 0.1, warmupSteps: 3, totalSteps: 20 });
  for (let i = 0; i < 7; i++) a.step();
  const opt = { learningRate: 0.1 };
  const b = createLrSchedulerWithWarmup({ optimizer: opt, warmupSteps: 0, totalSteps: 1 });
  b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
  assert.deepEqual(b.stateDict(), a.stateDict());
  assert.equal(opt.learningRate, a.getLr());
  for (let i = 0; i < 20; i++) assert.equal(b.step(), a.step());
  assert.throws(() => b.loadStateDict({ ...a.stateDict(), step: -1 }), CheckpointValidationError);
});

test('bad arguments are refused with the offending value', () => {
  const opt = { learningRate: 1e-3 };
  assert.throws(() => createLrSchedulerWithWarmup({ optimizer: opt, warmupSteps: -1, totalSteps: 10 }), /warmupSteps.*-1/);
  assert.throws(() => createLrSchedulerWithWarmup({ optimizer: opt, warmupSteps: 1, totalSteps: 0 }), /totalSteps.*got 0/);
  assert.throws(() => createLrSchedulerWithWarmup({ optimizer: opt, warmupSteps: 20, totalSteps: 10 }), /warmupSteps \(20\) exceeds totalSteps \(10\)/);
  assert.throws(() => createLrSchedulerWithWarmup({ optimizer: opt, warmupSteps: 1, totalSteps: 10, minLr: 1 }), /minLr \(1\) exceeds baseLr/);
  assert.throws(() => createLrSchedulerWithWarmup({ optimizer: () => undefined, warmupSteps: 1, totalSteps: 10 }), (e: unknown) => e instanceof ConfigurationError && /baseLr.*undefined/.test(e.message));
  assert.throws(() => createLrSchedulerWithWarmup({ optimizer: opt, baseLr: Number.NaN, warmupSteps: 1, totalSteps: 10 }), /baseLr.*NaN/);
});
