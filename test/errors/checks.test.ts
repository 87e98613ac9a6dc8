import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, CheckpointValidationError, ConfigurationError, intAtLeast, numberAbove, oneOf, problemOf } from '../../src/errors/index.js';
import { ElasticTrainingConfig } from '../../src/agent/index.js';
import { CheckpointConfig } from '../../src/checkpoint/index.js';
import { ScalingConfig } from '../../src/scaling/index.js';
import { CheckpointMetrics, TrainingMetrics } from '../../src/metrics/index.js';

const caught = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected a throw');
};

test('check: the value typed when good; else ConfigurationError naming the key, the rule, the value and the fix', () => {
  assert.equal(check(3, 'n', intAtLeast(1)), 3);
  const e = caught(() => check('3', 'n', intAtLeast(1)));
  assert.ok(e instanceof ConfigurationError);
  assert.equal(e.configKey, 'n');
  assert.equal(e.problem, 'n must be an integer >= 1, got "3"');
  assert.deepEqual(e.suggestions, ['Pass an integer >= 1 for n.']);
  for (const bad of [Number.NaN, Infinity, -1, '1']) assert.match(caught(() => check(bad, 'x', numberAbove(0))).message, /^x must be a finite number > 0, got /);
  assert.equal(check(2 ** 60, 'x', numberAbove(0)), 2 ** 60);
  assert.match(caught(() => check('nope', 'mode', oneOf(['a', 'b']))).message, /^mode must be one of "a", "b", got "nope"/);
  assert.equal(problemOf(0, 'k', intAtLeast(0)), undefined);
  assert.equal(problemOf(-1, 'k', numberAbove(0, { unit: 'seconds' })), 'k must be a finite number > 0 (seconds), got -1');
  const other = caught(() => check(1, 'f', oneOf(['x']), { error: (m, key) => new CheckpointValidationError(m, { invalidKeys: [key] }) }));
  assert.ok(other instanceof CheckpointValidationError && other.invalidKeys[0] === 'f');
});

test('agent config, checkpoint config, scaling and metrics all report a bad value through it, in the same words', () => {
  const messages = [
    caught(() => new ElasticTrainingConfig({ nprocPerNode: 0 })).message,
    caught(() => new CheckpointConfig({ checkpointInterval: 0 })).message,
    caught(() => new ScalingConfig({ baseLr: 1e-4, baseBatchSize: 0, baseWorldSize: 1 })).message,
    caught(() => new TrainingMetrics().updateStep(-1)).message,
  ];
  assert.match(messages[0], /nprocPerNode \(--nproc-per-node\) must be an integer >= 1, got 0/);
  assert.match(messages[1], /^checkpointInterval must be an integer >= 1, got 0/);
  assert.match(messages[2], /^baseBatchSize must be an integer >= 1, got 0/);
  assert.match(messages[3], /^step must be an integer >= 0, got -1/);
  assert.match(caught(() => new CheckpointConfig({ asyncSavePolicy: 'sometimes' as never })).message, /asyncSavePolicy must be one of "warn", "fail", "retry", got "sometimes"/);
  assert.match(caught(() => new CheckpointMetrics().recordSave('nvme', -1)).message, /must be a finite number >= 0, got -1\n {2}-> Pass .* in seconds/);
  assert.ok(caught(() => TrainingMetrics.fromJSON({ step: 'x' } as never)) instanceof CheckpointValidationError);
});
