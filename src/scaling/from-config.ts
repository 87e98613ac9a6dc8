import type { TrainingConfig } from '../config/index.js';
import { positiveInt } from './checks.js';
import { GradAccumulationConfig, ScalingConfig } from './config.js';
import { ElasticScalingManager } from './elastic.js';
import type { OptimizerLike } from './optimizer.js';

export interface ScalingFromConfigOptions {
  /** The world size now. */
  worldSize: number;
  optimizer?: OptimizerLike;
  /**
   * The world size the hyper-parameters were tuned for. Default: `elastic.base_world_size`, else `worldSize`
   * (so on a restart with a different size, pass the size of the first launch, e.g. from the checkpoint).
   */
  baseWorldSize?: number;
}

/**
 * Builds the ElasticScalingManager a validated config describes (training.lr and batch_size as the base, the
 * scaling section's strategy, rule, warm-up, bounds and rounding) and, if `worldSize` differs from the base,
 * applies the change at once (no warm-up: nothing has trained at the old size in this process).
 */
export function elasticScalingFromConfig(config: TrainingConfig, options: ScalingFromConfigOptions): ElasticScalingManager {
  const worldSize = positiveInt(options.worldSize, 'worldSize');
  const baseWorldSize = positiveInt(options.baseWorldSize ?? config.elastic.base_world_size ?? worldSize, 'baseWorldSize');
  const { scaling, training } = config;
  const lrOptions = { baseLr: training.lr, baseBatchSize: training.batch_size, baseWorldSize, scalingRule: scaling.rule, minLr: scaling.min_lr, maxLr: scaling.max_lr };
  const accumConfig =
    scaling.strategy === 'constant_batch' && scaling.target_global_batch_size !== null
      ? new GradAccumulationConfig({ targetGlobalBatchSize: scaling.target_global_batch_size, localBatchSize: training.batch_size, baseWorldSize, roundingMode: scaling.rounding_mode })
      : undefined;
  if (worldSize !== baseWorldSize) {
    const start = new ElasticScalingManager({ lrConfig: new ScalingConfig({ ...lrOptions, warmupSteps: 0 }), accumConfig, strategy: scaling.strategy });
    start.onTopologyChange(worldSize);
    const manager = new ElasticScalingManager({ lrConfig: new ScalingConfig({ ...lrOptions, warmupSteps: scaling.warmup_steps }), accumConfig, optimizer: options.optimizer, strategy: scaling.strategy });
    manager.loadStateDict(start.stateDict());
    return manager;
  }
  return new ElasticScalingManager({ lrConfig: new ScalingConfig({ ...lrOptions, warmupSteps: scaling.warmup_steps }), accumConfig, optimizer: options.optimizer, strategy: scaling.strategy });
}
