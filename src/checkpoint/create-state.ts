import { CheckpointValidationError } from '../errors/index.js';
import { CheckpointState } from './state.js';
import type { StateDict, StateValue } from './state-dict.js';
import { isTensor } from './tensor.js';
import { stateAdapterFor } from './state-adapters.js';

/** Anything with a state: stateDict()/loadStateDict() objects, plain state dicts, tfjs models, variables, optimizers. */
export interface Stateful {
  stateDict(): StateDict | Promise<StateDict>;
  loadStateDict(state: StateDict): void | Promise<void>;
}

function isStateful(x: unknown): x is Stateful {
  const s = x as Partial<Stateful> | null;
  return s !== null && typeof s === 'object' && typeof s.stateDict === 'function' && typeof s.loadStateDict === 'function';
}

/**
 * A wrapper may name the model it wraps under this symbol (`get [WRAPPED_MODEL]() { return this.model }`), as torch's
 * DDP does with `.module`; the checkpoint part then saves and restores the inner model.
 */
export const WRAPPED_MODEL: unique symbol = Symbol.for('elastic-harness.checkpoint.wrappedModel');

/** The model inside a wrapper (the tfjs DataParallel, or anything naming it under WRAPPED_MODEL), as the reference unwraps DDP. */
export function unwrapModel(model: unknown): unknown {
  let m = model;
  for (let depth = 0; depth < 8 && m !== null && typeof m === 'object' && WRAPPED_MODEL in m; depth++) m = (m as { [WRAPPED_MODEL]: unknown })[WRAPPED_MODEL];
  return m;
}

/** A plain state dict is a plain object (or a list) of data; a class instance without stateDict() is a framework object no adapter took. */
function isPlainObject(x: object): boolean {
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function noAdapter(what: string): CheckpointValidationError {
  return new CheckpointValidationError(`Cannot take or restore the state of ${what}: it is neither a state dict nor an object with stateDict()/loadStateDict(), and no framework adapter recognises it`, {
    invalidKeys: [what],
    suggestions: ["For a TensorFlow.js model, variable list or optimizer, import 'elastic-harness/tfjs' once (it registers the TensorFlow.js adapter)."],
  });
}

async function stateOf(x: unknown, what: string): Promise<StateDict> {
  if (x === undefined || x === null) return {};
  const adapter = stateAdapterFor(x);
  if (adapter !== undefined) return adapter.stateDict(x);
  if (isStateful(x)) return x.stateDict();
  if (typeof x === 'object' && !Array.isArray(x) && isPlainObject(x)) return x as StateDict;
  throw noAdapter(what);
}

export interface CreateCheckpointStateOptions {
  step: number;
  epoch?: number;
  /**
   * A tfjs LayersModel or tf.Variable[] (with elastic-harness/tfjs imported), a stateDict()/loadStateDict() object, or a plain state dict; a wrapper
   * (a tfjs DataParallel, or one naming its model under WRAPPED_MODEL) is unwrapped, as the reference does for DDP.
   */
  model?: unknown;
  /** A tfjs optimizer (every slot; with elastic-harness/tfjs imported), a stateDict() object, or a plain state dict. */
  optimizer?: unknown;
  lrScheduler?: unknown;
  datasetState?: StateDict;
  rngStates?: StateDict;
  metrics?: StateDict;
  worldSize?: number;
}

/** Reads the training components into a CheckpointState (tensors are copied, so training may go on at once). */
export async function createCheckpointState(options: CreateCheckpointStateOptions): Promise<CheckpointState> {
  return new CheckpointState({
    step: options.step,
    epoch: options.epoch,
    modelStateDict: await stateOf(unwrapModel(options.model), 'model'),
    optimizerStateDict: await stateOf(options.optimizer, 'optimizer'),
    lrSchedulerStateDict: options.lrScheduler === undefined || options.lrScheduler === null ? null : await stateOf(options.lrScheduler, 'lrScheduler'),
    datasetState: options.datasetState,
    rngStates: options.rngStates,
    metrics: options.metrics,
    worldSize: options.worldSize,
  });
}

/** Copies a saved dict into a live plain one in place: same keys (when strict), same shapes and dtypes. */
function loadPlain(target: StateDict, saved: StateDict, strict: boolean, what: string): void {
  const missing = Object.keys(target).filter((k) => !(k in saved));
  const unexpected = Object.keys(saved).filter((k) => !(k in target));
  if (strict && (missing.length > 0 || unexpected.length > 0)) {
    throw new CheckpointValidationError(`The checkpoint's ${what} does not match the target`, { missingKeys: missing, invalidKeys: unexpected });
  }
  for (const [k, v] of Object.entries(saved)) {
    const cur = target[k];
    if (isTensor(cur) && isTensor(v)) {
      if (cur.dtype !== v.dtype || cur.shape.join() !== v.shape.join()) {
        throw new CheckpointValidationError(`${what}.${k} is ${v.dtype}[${v.shape}] in the checkpoint, ${cur.dtype}[${cur.shape}] here`, { invalidKeys: [`${what}.${k}`] });
      }
      (cur.data as unknown as { set(a: ArrayLike<number | bigint>): void }).set(v.data as unknown as ArrayLike<number | bigint>);
    } else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && !ArrayBuffer.isView(cur) && !isTensor(cur) && v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v) && !isTensor(v)) {
      loadPlain(cur as StateDict, v as StateDict, strict, `${what}.${k}`);
    } else if (k in target || !strict) {
      target[k] = v as StateValue;
    }
  }
}

async function loadInto(target: unknown, saved: StateDict | null, strict: boolean, what: string, tf: unknown): Promise<void> {
  if (target === undefined || target === null) return;
  if (saved === null) {
    if (strict) throw new CheckpointValidationError(`The checkpoint holds no ${what} state`, { missingKeys: [what] });
    return;
  }
  const adapter = stateAdapterFor(target);
  if (adapter !== undefined) return adapter.loadStateDict(target, saved, strict, tf);
  if (isStateful(target)) return target.loadStateDict(saved);
  if (typeof target === 'object' && !Array.isArray(target) && isPlainObject(target)) return loadPlain(target as StateDict, saved, strict, what);
  throw noAdapter(what);
}

export interface LoadCheckpointToModelOptions {
  model?: unknown;
  optimizer?: unknown;
  lrScheduler?: unknown;
  /** Every saved key must match a target key and back (default true). */
  strict?: boolean;
  /** The framework module to create tensors with, for its adapter (the tfjs one defaults to the installed @tensorflow/tfjs). */
  tf?: unknown;
}

/** Restores a checkpoint into the training components (the model, then the optimizer, then the scheduler). */
export async function loadCheckpointToModel(state: CheckpointState, options: LoadCheckpointToModelOptions): Promise<void> {
  const strict = options.strict ?? true;
  await loadInto(unwrapModel(options.model), state.modelStateDict, strict, 'model', options.tf);
  await loadInto(options.optimizer, state.optimizerStateDict, strict, 'optimizer', options.tf);
  await loadInto(options.lrScheduler, state.lrSchedulerStateDict, strict, 'lrScheduler', options.tf);
}
