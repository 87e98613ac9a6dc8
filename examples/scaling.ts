/**
 * Elastic scaling: what happens to the learning rate and the batch when the world changes size.
 * 'variable_batch' keeps the per-rank batch, so the global batch follows the world and the learning
 * rate is rescaled by the linear rule (with a short warm-up to the new value); 'constant_batch' keeps
 * the global batch by changing the number of gradient-accumulation steps, so the learning rate stays.
 *
 *   node --import tsx examples/scaling.ts
 */
import { ElasticScalingManager, GradAccumulationConfig, ScalingConfig, ScalingRule } from 'elastic-harness/scaling';

// maxLr defaults to 1e-2, so the base rate leaves room to grow. Any object with a `learningRate` field works as the optimizer (a TensorFlow.js optimizer does).
const optimizer = { learningRate: 0.001 };
const variable = new ElasticScalingManager({
  lrConfig: new ScalingConfig({ baseLr: 0.001, baseBatchSize: 32, baseWorldSize: 4, scalingRule: ScalingRule.LINEAR, warmupSteps: 3 }),
  optimizer,
  strategy: 'variable_batch',
});
const constant = new ElasticScalingManager({
  lrConfig: new ScalingConfig({ baseLr: 0.001, baseBatchSize: 32, baseWorldSize: 4 }),
  accumConfig: new GradAccumulationConfig({ targetGlobalBatchSize: 256, localBatchSize: 32, baseWorldSize: 4 }),
  strategy: 'constant_batch',
});

console.log('world | variable_batch: lr, global batch | constant_batch: lr, accumulation steps, global batch');
for (const world of [4, 8, 2, 3]) {
  const v = variable.onTopologyChange(world); // e.g. a node joined or was lost and the agent restarted the group
  const c = constant.onTopologyChange(world);
  console.log(`${String(world).padStart(5)} | ${v.lr.toFixed(5)}, ${v.effectiveBatchSize} | ${c.lr.toFixed(5)}, ${c.accumulationSteps}, ${c.effectiveBatchSize}`);
}

// The rescaled rate is reached through the warm-up: one stepLr() per optimizer step.
variable.onTopologyChange(8);
const ramp = [1, 2, 3].map(() => variable.stepLr().toFixed(5));
console.log(`warm-up to world 8: ${ramp.join(' -> ')}; optimizer.learningRate = ${optimizer.learningRate.toFixed(5)}`);
