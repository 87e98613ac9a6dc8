import { ConfigurationError } from '../errors/index.js';
import { nonNegativeFinite, nonNegativeInt, positiveFinite, positiveInt } from './checks.js';
import { lrSetterFor, readLearningRate, type OptimizerLike } from './optimizer.js';
import { asRecord, isNonNegativeInt, readNumber } from './state.js';

export interface LrSchedulerOptions {
  optimizer: OptimizerLike;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine decay; default 0. */
  minLr?: number;
  /** Peak rate; default the optimizer's current `learningRate`. */
  baseLr?: number;
}

export interface LrSchedulerState {
  step: number;
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
  minLr: number;
}

/** A learning-rate schedule bound to an optimizer; mirrors PyTorch's step()/get_last_lr()/state_dict(). */
export interface LrScheduler {
  /** Advances one step, applies and returns the new rate. */
  step(): number;
  /** The rate at the current step (already applied). */
  getLr(): number;
  /** Steps taken so far. */
  readonly lastStep: number;
  stateDict(): LrSchedulerState;
  /** Restores the step (and schedule) and re-applies the rate to the optimizer. */
  loadStateDict(state: LrSchedulerState): void;
}

/** The schedule as a pure function of the step: linear from 0 to baseLr, then cosine down, never below minLr. */
export function warmupCosineLr(step: number, o: { baseLr: number; warmupSteps: number; totalSteps: number; minLr: number }): number {
  if (step < o.warmupSteps) return o.baseLr * (step / o.warmupSteps);
  const decaySteps = Math.max(1, o.totalSteps - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / decaySteps);
  return Math.max(o.minLr, o.baseLr * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/**
 * Linear warm-up from 0 over `warmupSteps`, then cosine decay to `totalSteps`, floored at `minLr` (and held there
 * after `totalSteps`). The step-0 rate is applied at once, as PyTorch's LambdaLR does.
 */
export function createLrSchedulerWithWarmup(options: LrSchedulerOptions): LrScheduler {
  const setLr = lrSetterFor(options.optimizer);
  const schedule = {
    warmupSteps: nonNegativeInt(options.warmupSteps, 'warmupSteps'),
    totalSteps: positiveInt(options.totalSteps, 'totalSteps'),
    minLr: nonNegativeFinite(options.minLr ?? 0, 'minLr'),
    baseLr: positiveFinite(options.baseLr ?? readLearningRate(options.optimizer), 'baseLr'),
  };
  if (schedule.warmupSteps > schedule.totalSteps) {
    throw new ConfigurationError(`warmupSteps (${schedule.warmupSteps}) exceeds totalSteps (${schedule.totalSteps})`, { configKey: 'warmupSteps', suggestions: ['Use fewer warm-up steps than total steps.'] });
  }
  if (schedule.minLr > schedule.baseLr) {
    throw new ConfigurationError(`minLr (${schedule.minLr}) exceeds baseLr (${schedule.baseLr})`, { configKey: 'minLr', suggestions: ['minLr is the floor of the decay: make it smaller than baseLr.'] });
  }
  let step = 0;
  let lr = 0;
  const apply = (): number => {
    lr = warmupCosineLr(step, schedule);
    setLr(lr);
    return lr;
  };
  apply();
  return {
    step: () => {
      step += 1;
      return apply();
    },
    getLr: () => lr,
    get lastStep() {
      return step;
    },
    stateDict: () => ({ step, ...schedule }),
    loadStateDict: (state: LrSchedulerState) => {
      const owner = 'LrScheduler';
      const s = asRecord(state, owner);
      const restored = {
        step: readNumber(s, 'step', owner, isNonNegativeInt),
        baseLr: readNumber(s, 'baseLr', owner, (v) => Number.isFinite(v) && v > 0),
        warmupSteps: readNumber(s, 'warmupSteps', owner, isNonNegativeInt),
        totalSteps: readNumber(s, 'totalSteps', owner, (v) => Number.isInteger(v) && v > 0),
        minLr: readNumber(s, 'minLr', owner, (v) => Number.isFinite(v) && v >= 0),
      };
      step = restored.step;
      schedule.baseLr = restored.baseLr;
      schedule.warmupSteps = restored.warmupSteps;
      schedule.totalSteps = restored.totalSteps;
      schedule.minLr = restored.minLr;
      apply();
    },
  };
}
