import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigurationError } from '../../src/errors/index.js';
import { validateElasticConfig } from '../../src/config/index.js';
import { elasticScalingFromConfig } from '../../src/scaling/index.js';

const configOf = (input: unknown) => {
  const r = validateElasticConfig(input);
  assert.equal(r.valid, true, r.errors.join('; '));
  return r.config!;
};

test('a constant_batch config gives the accumulation of the current world at once', () => {
  const config = configOf({ elastic: { min_nodes: 1, max_nodes: 8, base_world_size: 4 }, training: { lr: 1e-4, batch_size: 32 }, scaling: { strategy: 'constant_batch', target_global_batch_size: 1024, rounding_mode: 'floor' } });
  const opt = { learningRate: 0 };
  const m = elasticScalingFromConfig(config, { worldSize: 3, optimizer: opt });
  assert.equal(m.strategy, 'constant_batch');
  assert.equal(m.accumulationSteps, 10);
  assert.equal(m.worldSize, 3);
  assert.equal(opt.learningRate, 1e-4);
  assert.equal(m.onTopologyChange(4).accumulationSteps, 8);
});

test('a variable_batch config scales the LR for the current world without warm-up, and later changes warm up', () => {
  const config = configOf({ elastic: { base_world_size: 4 }, training: { lr: 1e-4, batch_size: 8 }, scaling: { warmup_steps: 10 } });
  const opt = { learningRate: 0 };
  const m = elasticScalingFromConfig(config, { worldSize: 2, optimizer: opt });
  assert.ok(Math.abs(opt.learningRate - 5e-5) < 1e-18, String(opt.learningRate));
  assert.equal(m.isWarmingUp, false);
  m.onTopologyChange(4);
  assert.equal(m.isWarmingUp, true);
  for (let i = 0; i < 10; i++) m.stepLr();
  assert.equal(opt.learningRate, 1e-4);
});

test('base world size: option, then config, then the current size', () => {
  const config = configOf({ training: { lr: 1e-4, batch_size: 8 }, scaling: { warmup_steps: 0 } });
  assert.equal(elasticScalingFromConfig(config, { worldSize: 2 }).currentLr, 1e-4, 'no base_world_size: the launch size is the base');
  assert.equal(elasticScalingFromConfig(config, { worldSize: 2, baseWorldSize: 1 }).currentLr, 2e-4);
  assert.throws(() => elasticScalingFromConfig(config, { worldSize: 0 }), (e: unknown) => e instanceof ConfigurationError && /worldSize.*got 0/.test(e.message));
});
