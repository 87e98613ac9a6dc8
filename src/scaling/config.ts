import { ConfigurationError } from '../errors/index.js';
import { nonNegativeFinite, nonNegativeInt, positiveFinite, positiveInt, show } from './checks.js';
import { isScalingRule, SCALING_RULES, ScalingRule } from './rules.js';

export interface ScalingConfigOptions {
  /** Learning rate at the base configuration. */
  baseLr: number;
  /** Batch size per worker at the base configuration. */
  baseBatchSize: number;
  /** World size at the base configuration. */
  baseWorldSize: number;
  /** Default LINEAR. */
  scalingRule?: ScalingRule;
  /** Warm-up steps after a topology change; default 100. */
  warmupSteps?: number;
  /** Default 1e-7. */
  minLr?: number;
  /** Default 1e-2. */
  maxLr?: number;
}

/** How the learning rate is scaled when the world changes. Validated on construction. */
export class ScalingConfig {
  readonly baseLr: number;
  readonly baseBatchSize: number;
  readonly baseWorldSize: number;
  readonly scalingRule: ScalingRule;
  readonly warmupSteps: number;
  readonly minLr: number;
  readonly maxLr: number;

  constructor(options: ScalingConfigOptions) {
    this.baseLr = positiveFinite(options.baseLr, 'baseLr');
    this.baseBatchSize = positiveInt(options.baseBatchSize, 'baseBatchSize');
    this.baseWorldSize = positiveInt(options.baseWorldSize, 'baseWorldSize');
    const rule: unknown = options.scalingRule ?? ScalingRule.LINEAR;
    if (!isScalingRule(rule)) {
      throw new ConfigurationError(`scalingRule must be one of ${SCALING_RULES.join(', ')}, got ${show(rule)}`, { configKey: 'scalingRule', suggestions: ['Use ScalingRule.LINEAR, ScalingRule.SQRT or ScalingRule.NONE.'] });
    }
    this.scalingRule = rule;
    this.warmupSteps = nonNegativeInt(options.warmupSteps ?? 100, 'warmupSteps');
    this.minLr = nonNegativeFinite(options.minLr ?? 1e-7, 'minLr');
    this.maxLr = positiveFinite(options.maxLr ?? 1e-2, 'maxLr');
    if (this.minLr > this.maxLr) {
      throw new ConfigurationError(`minLr (${this.minLr}) must not exceed maxLr (${this.maxLr})`, { configKey: 'minLr', suggestions: ['Swap the two bounds or widen them.'] });
    }
  }

  /** baseBatchSize * baseWorldSize. */
  get baseEffectiveBatchSize(): number {
    return this.baseBatchSize * this.baseWorldSize;
  }
}

export const ROUNDING_MODES = ['ceil', 'floor', 'nearest'] as const;
export type RoundingMode = (typeof ROUNDING_MODES)[number];

export interface GradAccumulationConfigOptions {
  targetGlobalBatchSize: number;
  /** Batch size per worker. */
  localBatchSize: number;
  baseWorldSize: number;
  /** How a fractional step count is rounded; default 'ceil' (never below the target). */
  roundingMode?: RoundingMode;
}

/** What global batch the accumulation keeps constant. Validated on construction. */
export class GradAccumulationConfig {
  readonly targetGlobalBatchSize: number;
  readonly localBatchSize: number;
  readonly baseWorldSize: number;
  readonly roundingMode: RoundingMode;

  constructor(options: GradAccumulationConfigOptions) {
    this.targetGlobalBatchSize = positiveInt(options.targetGlobalBatchSize, 'targetGlobalBatchSize');
    this.localBatchSize = positiveInt(options.localBatchSize, 'localBatchSize');
    this.baseWorldSize = positiveInt(options.baseWorldSize, 'baseWorldSize');
    const mode: unknown = options.roundingMode ?? 'ceil';
    if (typeof mode !== 'string' || !(ROUNDING_MODES as readonly string[]).includes(mode)) {
      throw new ConfigurationError(`roundingMode must be one of ${ROUNDING_MODES.join(', ')}, got ${show(mode)}`, { configKey: 'roundingMode', suggestions: ["Use 'ceil' (default), 'floor' or 'nearest'."] });
    }
    this.roundingMode = mode as RoundingMode;
  }
}

/**
 * Accumulation steps for `worldSize` workers: target / (local * world) rounded by `mode`, never below 1.
 * Integer arithmetic, so an exact quotient is never nudged by floating-point error.
 */
export function accumulationStepsFor(config: GradAccumulationConfig, worldSize: number): number {
  const t = config.targetGlobalBatchSize;
  const d = config.localBatchSize * worldSize;
  let steps: number;
  switch (config.roundingMode) {
    case 'ceil':
      steps = Math.floor((t + d - 1) / d);
      break;
    case 'floor':
      steps = Math.floor(t / d);
      break;
    case 'nearest':
      // Half rounds up, as Math.round does.
      steps = Math.floor((2 * t + d) / (2 * d));
      break;
  }
  return Math.max(1, steps);
}
