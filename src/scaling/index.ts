/**
 * elastic-harness/scaling: learning-rate rules, warm-up, gradient accumulation and schedules that keep training
 * sound when the number of workers changes.
 */
export { ScalingRule, SCALING_RULES, isScalingRule, applyScalingRule } from './rules.js';
export {
  ScalingConfig,
  GradAccumulationConfig,
  ROUNDING_MODES,
  accumulationStepsFor,
  type ScalingConfigOptions,
  type GradAccumulationConfigOptions,
  type RoundingMode,
} from './config.js';
export { lrSetterFor, readLearningRate, type OptimizerLike, type LearningRateSetter, type LearningRateHolder, type LrSetter } from './optimizer.js';
export { WarmupScheduler, type WarmupSchedulerOptions } from './warmup.js';
export { LRScalingManager, type LRScalingState } from './lr-manager.js';
export { GradientAccumulationManager, type GradAccumulationState } from './grad-accumulation.js';
export {
  ElasticScalingManager,
  SCALING_STRATEGIES,
  type ScalingStrategy,
  type ElasticScalingManagerOptions,
  type ElasticScalingState,
  type TopologyChangeResult,
} from './elastic.js';
export { createLrSchedulerWithWarmup, warmupCosineLr, type LrScheduler, type LrSchedulerOptions, type LrSchedulerState } from './schedule.js';
export { elasticScalingFromConfig, type ScalingFromConfigOptions } from './from-config.js';
