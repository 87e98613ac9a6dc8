import { TopologyChangeError } from '../errors/index.js';
import { positiveInt } from './checks.js';
import { ScalingConfig } from './config.js';
import { lrSetterFor, type LrSetter, type OptimizerLike } from './optimizer.js';
import { applyScalingRule, clamp } from './rules.js';
import { asRecord, isNonNegativeInt, isPositiveInt, readNumber } from './state.js';
import { WarmupScheduler } from './warmup.js';

export interface LRScalingState {
  currentLr: number;
  worldSize: number;
  batchSize: number;
  /** Present while a warm-up is in progress. */
  warmup: { startLr: number; targetLr: number; warmupSteps: number; step: number } | null;
}

/**
 * Adjusts the learning rate when the world changes. The new rate is always computed from the base
 * configuration (not from the current rate), so repeated changes never accumulate rounding drift.
 */
export class LRScalingManager {
  readonly config: ScalingConfig;
  private readonly setLr: LrSetter | undefined;
  private lr: number;
  private worldSize: number;
  private batchSize: number;
  private warmup: WarmupScheduler | null = null;
  private warmupStep = 0;

  /** Sets the optimizer's rate to the (clamped) base rate at once, so both agree from the start. */
  constructor(config: ScalingConfig, optimizer?: OptimizerLike) {
    this.config = config;
    this.setLr = optimizer === undefined ? undefined : lrSetterFor(optimizer);
    this.worldSize = config.baseWorldSize;
    this.batchSize = config.baseBatchSize;
    this.lr = clamp(config.baseLr, config.minLr, config.maxLr);
    this.apply();
  }

  get currentLr(): number {
    return this.lr;
  }

  get currentWorldSize(): number {
    return this.worldSize;
  }

  get currentBatchSize(): number {
    return this.batchSize;
  }

  get currentEffectiveBatchSize(): number {
    return this.batchSize * this.worldSize;
  }

  get isWarmingUp(): boolean {
    return this.warmup !== null;
  }

  /** The rate the current warm-up leads to (the current rate when none is running). */
  get targetLr(): number {
    return this.warmup?.targetLr ?? this.lr;
  }

  /** `baseLr` scaled from `oldBatch` to `newBatch` by the configured rule, clamped to [minLr, maxLr]. */
  getScaledLr(baseLr: number, oldBatch: number, newBatch: number): number {
    positiveInt(oldBatch, 'oldBatch');
    positiveInt(newBatch, 'newBatch');
    return clamp(applyScalingRule(this.config.scalingRule, baseLr, oldBatch, newBatch), this.config.minLr, this.config.maxLr);
  }

  /**
   * Handles a new world size (and optionally a new per-worker batch size). Returns the target rate; with
   * warmupSteps > 0 the optimizer reaches it after that many step() calls, else at once.
   */
  onTopologyChange(newWorldSize: number, batchSize?: number): number {
    if (typeof newWorldSize !== 'number' || !Number.isInteger(newWorldSize) || newWorldSize < 1) {
      throw new TopologyChangeError(`New world size must be a whole number >= 1, got ${String(newWorldSize)}`, {
        oldWorldSize: this.worldSize,
        newWorldSize,
        suggestions: ['Pass the number of workers after the change (WORLD_SIZE).'],
      });
    }
    const newBatch = batchSize === undefined ? this.batchSize : positiveInt(batchSize, 'batchSize');
    const target = this.getScaledLr(this.config.baseLr, this.config.baseEffectiveBatchSize, newBatch * newWorldSize);
    this.worldSize = newWorldSize;
    this.batchSize = newBatch;
    if (this.config.warmupSteps > 0 && target !== this.lr) {
      this.warmup = new WarmupScheduler({ startLr: this.lr, targetLr: target, warmupSteps: this.config.warmupSteps });
      this.warmupStep = 0;
    } else {
      this.warmup = null;
      this.lr = target;
      this.apply();
    }
    return target;
  }

  /** Advances the warm-up by one step, applies and returns the current rate. */
  step(): number {
    if (this.warmup !== null) {
      this.warmupStep += 1;
      this.lr = this.warmup.getLr(this.warmupStep);
      if (this.warmup.isComplete(this.warmupStep)) this.warmup = null;
      this.apply();
    }
    return this.lr;
  }

  stateDict(): LRScalingState {
    return {
      currentLr: this.lr,
      worldSize: this.worldSize,
      batchSize: this.batchSize,
      warmup: this.warmup === null ? null : { startLr: this.warmup.startLr, targetLr: this.warmup.targetLr, warmupSteps: this.warmup.warmupSteps, step: this.warmupStep },
    };
  }

  /** Restores a stateDict() and sets the optimizer's rate to the restored one. */
  loadStateDict(state: LRScalingState): void {
    const owner = 'LRScalingManager';
    const s = asRecord(state, owner);
    const lr = readNumber(s, 'currentLr', owner);
    const worldSize = readNumber(s, 'worldSize', owner, isPositiveInt);
    const batchSize = readNumber(s, 'batchSize', owner, isPositiveInt);
    let warmup: WarmupScheduler | null = null;
    let warmupStep = 0;
    if (s.warmup !== null && s.warmup !== undefined) {
      const w = asRecord(s.warmup, `${owner}.warmup`);
      warmup = new WarmupScheduler({
        startLr: readNumber(w, 'startLr', owner),
        targetLr: readNumber(w, 'targetLr', owner),
        warmupSteps: readNumber(w, 'warmupSteps', owner, isNonNegativeInt),
      });
      warmupStep = readNumber(w, 'step', owner, isNonNegativeInt);
    }
    this.lr = lr;
    this.worldSize = worldSize;
    this.batchSize = batchSize;
    this.warmup = warmup;
    this.warmupStep = warmupStep;
    this.apply();
  }

  private apply(): void {
    this.setLr?.(this.lr);
  }
}
