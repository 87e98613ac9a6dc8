import { decodeState, encodeState, type FoundTensor, type Json, type StateDict, type StateValue } from '../state-dict.js';
import type { Tensor } from '../tensor.js';
import { CheckpointValidationError } from '../../errors/index.js';

/**
 * A state dict split for local checkpointing (NVRx's TensorAwareStateDict): the tensors, which travel and are
 * stored as raw bytes, and the rest, a JSON tree that refers to them. An implementation of one's own serves
 * state that BasicTensorAwareStateDict cannot walk.
 */
export interface TensorAwareStateDict {
  /** The whole state, tensors in place. */
  readonly stateDict: StateDict;
  /** The state without its tensors: JSON, each tensor replaced by a reference to its id. */
  readonly skeleton: Json;
  /** The tensors, in a fixed order, each with its id and key path. */
  readonly tensors: readonly FoundTensor[];
}

/**
 * The TensorAwareStateDict of a plain nested state (objects and arrays holding typed arrays, tensors
 * `{dtype, shape, data}` and JSON values). Anything else (a Map, a class instance, a function) is refused at
 * construction with a CheckpointValidationError naming its key path, so a save never half-succeeds.
 */
export class BasicTensorAwareStateDict implements TensorAwareStateDict {
  readonly skeleton: Json;
  readonly tensors: readonly FoundTensor[];
  private readonly whole: StateDict;

  constructor(stateDict: StateDict) {
    if (stateDict === null || typeof stateDict !== 'object' || Array.isArray(stateDict)) {
      throw new CheckpointValidationError(`BasicTensorAwareStateDict needs a plain object, got ${stateDict === null ? 'null' : Array.isArray(stateDict) ? 'an array' : typeof stateDict}`, {
        suggestions: ['Wrap the state in an object, e.g. { model, optimizer, step }.'],
      });
    }
    const { json, tensors } = encodeState(stateDict);
    this.skeleton = json;
    this.tensors = tensors;
    this.whole = stateDict;
  }

  /** Rebuilds one from its skeleton and tensors (as a loaded part holds them). */
  static fromParts(skeleton: Json, tensors: ReadonlyMap<string, Tensor>): BasicTensorAwareStateDict {
    const state = decodeState(skeleton, (id) => {
      const t = tensors.get(id);
      if (t === undefined) throw new CheckpointValidationError(`the state refers to a tensor "${id}" the part does not hold`, { missingKeys: [id] });
      return t;
    });
    if (state === null || typeof state !== 'object' || Array.isArray(state) || ArrayBuffer.isView(state)) {
      throw new CheckpointValidationError('a local checkpoint part must hold an object state');
    }
    return new BasicTensorAwareStateDict(state as StateDict);
  }

  get stateDict(): StateDict {
    return this.whole;
  }
}

export type { FoundTensor, StateValue };
