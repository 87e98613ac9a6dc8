import type { StateDict } from './state-dict.js';

/**
 * How the checkpoint part reads and restores a framework's own objects (a model, a variable list, an optimizer)
 * without importing the framework: the framework's part registers an adapter (elastic-harness/tfjs registers the
 * TensorFlow.js one when it is imported), and createCheckpointState / loadCheckpointToModel ask the adapters first.
 */
export interface StateAdapter {
  /** Shown in errors, e.g. "TensorFlow.js". */
  readonly name: string;
  /** Whether `x` is one of this framework's objects. */
  matches(x: unknown): boolean;
  stateDict(x: unknown): StateDict | Promise<StateDict>;
  /** `runtime`: the framework module to create tensors with, when the caller passed one (loadCheckpointToModel's `tf`). */
  loadStateDict(x: unknown, saved: StateDict, strict: boolean, runtime: unknown): Promise<void>;
}

const adapters: StateAdapter[] = [];

/** Adds an adapter (once per name: importing a framework part twice registers it once). */
export function registerStateAdapter(adapter: StateAdapter): void {
  const i = adapters.findIndex((a) => a.name === adapter.name);
  if (i >= 0) adapters[i] = adapter;
  else adapters.push(adapter);
}

export function stateAdapterFor(x: unknown): StateAdapter | undefined {
  return adapters.find((a) => a.matches(x));
}
