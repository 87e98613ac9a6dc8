import { CheckpointValidationError, ConfigurationError } from '../errors/index.js';
import { show } from './checks.js';
import { GradAccumulationConfig, ScalingConfig } from './config.js';
import { GradientAccumulationManager, type GradAccumulationState } from './grad-accumulation.js';
import { LRScalingManager, type LRScalingState } from './lr-manager.js';
import type { OptimizerLike } from './optimizer.js';
import { asRecord } from './state.js';

export const SCALING_STRATEGIES = ['variable_batch', 'constant_batch'] as const;
export type ScalingStrategy = (typeof SCALING_STRATEGIES)[number];

export interface ElasticScalingManagerOptions {
  lrConfig: ScalingConfig;
  /** Required for 'constant_batch'; not used by 'variable_batch'. */
  accumConfig?: GradAccumulationConfig;
  optimizer?: OptimizerLike;
  /** Default 'variable_batch'. */
  strategy?: ScalingStrategy;
}

export interface TopologyChangeResult {
  worldSize: number;
  /** The learning rate the optimizer reaches (after warm-up, if any). */
  lr: number;
  accumulationSteps: number;
  /** Samples per optimizer step across the world. */
  effectiveBatchSize: number;
}

export interface ElasticScalingState {
  strategy: ScalingStrategy;
  lr: LRScalingState;
  accumulation: GradAccumulationState | null;
}

/**
 * One object for both reactions to a new world size:
 * - 'variable_batch': the global batch follows the world, the learning rate is scaled by the rule (with warm-up);
 * - 'constant_batch': gradient accumulation keeps the global batch at its target, the learning rate stays put.
 */
export class ElasticScalingManager {
  readonly strategy: ScalingStrategy;
  readonly lrManager: LRScalingManager;
  readonly accumManager: GradientAccumulationManager | null;

  constructor(options: ElasticScalingManagerOptions) {
    const strategy: unknown = options.strategy ?? 'variable_batch';
    if (typeof strategy !== 'string' || !(SCALING_STRATEGIES as readonly string[]).includes(strategy)) {
      throw new ConfigurationError(`Unknown scaling strategy ${show(strategy)}`, { configKey: 'scaling.strategy', suggestions: ["Use 'variable_batch' or 'constant_batch'."] });
    }
    this.strategy = strategy as ScalingStrategy;
    if (this.strategy === 'constant_batch') {
      if (options.accumConfig === undefined) {
        throw new ConfigurationError("The 'constant_batch' strategy needs accumConfig (its target global batch size)", {
          configKey: 'scaling.target_global_batch_size',
          suggestions: ['Pass accumConfig: new GradAccumulationConfig({ targetGlobalBatchSize, localBatchSize, baseWorldSize }).'],
        });
      }
      if (options.accumConfig.baseWorldSize !== options.lrConfig.baseWorldSize) {
        throw new ConfigurationError(`lrConfig.baseWorldSize (${options.lrConfig.baseWorldSize}) and accumConfig.baseWorldSize (${options.accumConfig.baseWorldSize}) differ`, {
          configKey: 'baseWorldSize',
          suggestions: ['Both describe the same starting world: give them the same value.'],
        });
      }
      this.accumManager = new GradientAccumulationManager(options.accumConfig);
    } else {
      this.accumManager = null;
    }
    this.lrManager = new LRScalingManager(options.lrConfig, options.optimizer);
  }

  get currentLr(): number {
    return this.lrManager.currentLr;
  }

  get worldSize(): number {
    return this.lrManager.currentWorldSize;
  }

  get accumulationSteps(): number {
    return this.accumManager?.accumulationSteps ?? 1;
  }

  get lossScaleFactor(): number {
    return this.accumManager?.lossScaleFactor ?? 1;
  }

  get effectiveBatchSize(): number {
    return this.accumManager?.effectiveBatchSize ?? this.lrManager.currentEffectiveBatchSize;
  }

  get isWarmingUp(): boolean {
    return this.lrManager.isWarmingUp;
  }

  onTopologyChange(newWorldSize: number): TopologyChangeResult {
    if (this.accumManager !== null) {
      // Validate (and throw) before touching either manager, so a bad size leaves both as they were.
      this.accumManager.onTopologyChange(newWorldSize);
      this.lrManager.loadStateDict({ ...this.lrManager.stateDict(), worldSize: newWorldSize });
    } else {
      this.lrManager.onTopologyChange(newWorldSize);
    }
    return { worldSize: newWorldSize, lr: this.lrManager.targetLr, accumulationSteps: this.accumulationSteps, effectiveBatchSize: this.effectiveBatchSize };
  }

  /** Call once per micro-batch: true when the optimizer should step. Always true under 'variable_batch'. */
  shouldStep(): boolean {
    return this.accumManager?.shouldStep() ?? true;
  }

  /** Advances any learning-rate warm-up; returns the current rate. */
  stepLr(): number {
    return this.lrManager.step();
  }

  stateDict(): ElasticScalingState {
    return { strategy: this.strategy, lr: this.lrManager.stateDict(), accumulation: this.accumManager?.stateDict() ?? null };
  }

  loadStateDict(state: ElasticScalingState): void {
    const s = asRecord(state, 'ElasticScalingManager');
    if (s.strategy !== this.strategy) {
      throw new CheckpointValidationError(`Saved scaling strategy ${show(s.strategy)} differs from this manager's '${this.strategy}'`, {
        invalidKeys: ['strategy'],
        suggestions: ['Construct the manager with the strategy the checkpoint was written with.'],
      });
    }
    if (this.accumManager !== null) {
      if (s.accumulation === null || s.accumulation === undefined) {
        throw new CheckpointValidationError('Saved scaling state lacks the accumulation state', { missingKeys: ['accumulation'] });
      }
      const before = this.accumManager.stateDict();
      this.accumManager.loadStateDict(s.accumulation as GradAccumulationState);
      try {
        this.lrManager.loadStateDict(s.lr as LRScalingState);
      } catch (err) {
        // All or nothing: a half-restored manager would train with a mismatched LR and batch.
        this.accumManager.loadStateDict(before);
        throw err;
      }
      return;
    }
    this.lrManager.loadStateDict(s.lr as LRScalingState);
  }
}
