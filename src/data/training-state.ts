import { ConfigurationError } from '../errors/index.js';
import { createCheckpointState, type CheckpointState, type StateDict, type StateValue } from '../checkpoint/index.js';
import type { TrainingMetrics } from '../metrics/index.js';
import type { ElasticScalingManager } from '../scaling/index.js';

/** Anything whose position is a small state: samplers, token datasets, RNGs, schedulers. */
export interface Restorable {
  stateDict(): unknown;
  loadStateDict(state: never): void;
}

/** Everything a run must checkpoint to continue exactly; the resume path restores the same set. */
export interface TrainingComponents {
  /** A tfjs LayersModel, a tf.Variable[], a stateDict()/loadStateDict() object, or a plain state dict. */
  model?: unknown;
  /** A tfjs optimizer (Adam: moments, iteration count and the running accBeta1/accBeta2), or a stateDict() object. */
  optimizer?: unknown;
  /** A learning-rate scheduler with stateDict()/loadStateDict() (e.g. createLrSchedulerWithWarmup's). */
  scheduler?: Restorable;
  /** The scaling managers (learning-rate rule, warm-up, gradient accumulation). */
  scaling?: ElasticScalingManager;
  /** The data position: one sampler (saved under the name "sampler")... */
  sampler?: Restorable;
  /** ...and/or several, by name (one per data loader). */
  data?: Record<string, Restorable>;
  /** The user's RNGs (SeededRng, or anything with stateDict()), by name. TensorFlow.js keeps no global RNG
   * state: derive its ops' explicit seeds from one of these and they are restored with it. */
  rngs?: Record<string, Restorable>;
  /** Saved whole with the checkpoint and restored in place. */
  metrics?: TrainingMetrics;
}

/** JSON-able state as a StateDict value (the states here are plain numbers, strings and arrays). */
function asState(v: unknown, what: string): StateDict {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigurationError(`${what}.stateDict() must return an object`, { configKey: what });
  return v as StateDict;
}

export function dataComponents(c: TrainingComponents): Record<string, Restorable> {
  const out: Record<string, Restorable> = { ...(c.data ?? {}) };
  if (c.sampler !== undefined) {
    if ('sampler' in out) throw new ConfigurationError('data.sampler clashes with the sampler option; give the data loaders other names', { configKey: 'data.sampler' });
    out.sampler = c.sampler;
  }
  return out;
}

/**
 * The layout of a CheckpointState the resume path reads back:
 * - modelStateDict / optimizerStateDict: the model's and optimizer's own state dicts;
 * - lrSchedulerStateDict: `{scheduler, scaling}` (either null when absent);
 * - datasetState: `{<name>: sampler or dataset state}`; rngStates: `{<name>: RNG state}`;
 * - metrics: TrainingMetrics.toJSON().
 *
 * Take it at an optimizer-step boundary: under gradient accumulation a state taken mid-window would record
 * micro-batches as consumed whose gradients it does not hold, so it is refused.
 */
export async function captureTrainingState(components: TrainingComponents, at: { step: number; epoch?: number; worldSize: number; timestamp?: number }): Promise<CheckpointState> {
  const micro = components.scaling?.accumManager?.currentMicroStep ?? 0;
  if (micro !== 0) {
    throw new ConfigurationError(`a checkpoint was asked for in the middle of an accumulation window (${micro} of ${components.scaling!.accumulationSteps} micro-batches summed)`, {
      configKey: 'checkpoint',
      suggestions: ['Save right after an optimizer step; a resume restarts the window, so nothing is lost by waiting.'],
    });
  }
  const named = (items: Record<string, Restorable> | undefined, what: string): StateDict => {
    const out: StateDict = {};
    for (const [k, v] of Object.entries(items ?? {})) out[k] = asState(v.stateDict(), `${what}.${k}`);
    return out;
  };
  const scheduler = components.scheduler === undefined ? null : asState(components.scheduler.stateDict(), 'scheduler');
  const scaling = components.scaling === undefined ? null : (JSON.parse(JSON.stringify(components.scaling.stateDict())) as StateDict);
  const metrics = components.metrics;
  metrics?.updateStep(at.step);
  const state = await createCheckpointState({
    step: at.step,
    epoch: at.epoch,
    model: components.model,
    optimizer: components.optimizer,
    lrScheduler: { scheduler, scaling } satisfies Record<string, StateValue>,
    datasetState: named(dataComponents(components), 'data'),
    rngStates: named(components.rngs, 'rngs'),
    metrics: metrics === undefined ? {} : (JSON.parse(JSON.stringify(metrics.toJSON())) as StateDict),
    worldSize: at.worldSize,
  });
  if (at.timestamp !== undefined) state.timestamp = at.timestamp;
  return state;
}
