import { ElasticTrainingError, type ElasticErrorOptions } from './base.js';

export interface TrainerErrorOptions extends ElasticErrorOptions {
  /** The hook, step function or phase that failed (e.g. `onEpochEnd`, `trainingStep`). */
  phase?: string;
  /** The optimizer step at the time, when known. */
  step?: number;
  epoch?: number;
}

/** Base of the trainer's errors: training itself failed (a step function, a hook, the loop). */
export class TrainerError extends ElasticTrainingError {
  readonly phase?: string;
  readonly step?: number;
  readonly epoch?: number;

  constructor(message: string, options: TrainerErrorOptions = {}) {
    super(message, { ...options, suggestions: options.suggestions ?? ['Read the cause below; the last committed checkpoint is untouched and the run can resume from it.'] });
    this.phase = options.phase;
    this.step = options.step;
    this.epoch = options.epoch;
  }
}

export interface CheckpointTimeoutErrorOptions extends TrainerErrorOptions {
  /** The time allowed, in seconds. */
  limitSec?: number;
}

/** A checkpoint did not finish within the time allowed for it. */
export class CheckpointTimeoutError extends TrainerError {
  readonly limitSec?: number;

  constructor(message: string, options: CheckpointTimeoutErrorOptions = {}) {
    super(message, { ...options, suggestions: options.suggestions ?? ['Raise faultTolerance.maxCheckpointSec, save a smaller state, or save to a faster tier (MEMORY, then NVME).'] });
    this.limitSec = options.limitSec;
  }
}

/**
 * Preempted (SIGTERM or the configured signal) and the emergency checkpoint could not be written within
 * `maxCheckpointSec`: the run resumes from the last regular checkpoint instead.
 */
export class PreemptionTimeoutError extends CheckpointTimeoutError {
  readonly signal?: string;

  constructor(message: string, options: CheckpointTimeoutErrorOptions & { signal?: string } = {}) {
    super(message, {
      ...options,
      suggestions: options.suggestions ?? [
        'Ask the scheduler for an earlier signal (SLURM: --signal=B:USR1@120) or raise faultTolerance.maxCheckpointSec.',
        'The last regular checkpoint is intact; the requeued run resumes from it.',
      ],
    });
    this.signal = options.signal;
  }
}
