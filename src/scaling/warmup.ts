import { ConfigurationError } from '../errors/index.js';
import { nonNegativeInt, show } from './checks.js';

export interface WarmupSchedulerOptions {
  startLr: number;
  targetLr: number;
  warmupSteps: number;
}

function finite(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ConfigurationError(`${key} must be a finite number, got ${show(value)}`, { configKey: key, suggestions: [`Pass a number for ${key}.`] });
  }
  return value;
}

/** Linear warm-up from `startLr` to `targetLr` over `warmupSteps` steps. */
export class WarmupScheduler {
  readonly startLr: number;
  readonly targetLr: number;
  readonly warmupSteps: number;

  constructor(options: WarmupSchedulerOptions) {
    this.startLr = finite(options.startLr, 'startLr');
    this.targetLr = finite(options.targetLr, 'targetLr');
    this.warmupSteps = nonNegativeInt(options.warmupSteps, 'warmupSteps');
  }

  /** The learning rate after `step` warm-up steps: startLr at 0, exactly targetLr from warmupSteps on. */
  getLr(step: number): number {
    const s = finite(step, 'step');
    if (s >= this.warmupSteps) return this.targetLr;
    if (s <= 0) return this.startLr;
    return this.startLr + (this.targetLr - this.startLr) * (s / this.warmupSteps);
  }

  isComplete(step: number): boolean {
    return step >= this.warmupSteps;
  }
}
