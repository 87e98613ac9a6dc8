import type { StateDict } from '../checkpoint/index.js';

/**
 * What a training or validation step returns: `loss` (a framework scalar or a number) and any other
 * scalars to log. The trainer never looks inside a framework value; the model adapter reads it.
 */
export type StepOutput = { loss: unknown } & Record<string, unknown>;

/**
 * The model side of training, without a framework: the adapter (elastic-harness/tfjs) records gradients,
 * keeps them in one flat Float32Array in a fixed parameter order (what one allreduce averages), and gives
 * its state to checkpoints.
 */
export interface TrainerModel {
  /**
   * Runs `step` while recording gradients, adds the gradients of its loss times `scale` to `gradients`,
   * and returns the step's scalars (the loss unscaled) as numbers.
   */
  computeGradients(step: () => StepOutput, scale: number): Promise<Record<string, number>>;
  /** Runs `step` without gradients and returns its scalars. */
  evaluate(step: () => StepOutput): Promise<Record<string, number>>;
  /** The gradients accumulated since zeroGradients(), flat; the trainer averages them in place. */
  readonly gradients: Float32Array;
  zeroGradients(): void;
  /** All parameters, flat, in the gradients' order (broadcast from rank 0 at a fresh start). */
  getParameters(): Float32Array;
  setParameters(flat: Float32Array): void;
  stateDict(): StateDict | Promise<StateDict>;
  loadStateDict(state: StateDict): void | Promise<void>;
}

/** An optimizer over (part of) a TrainerModel's parameters. */
export interface TrainerOptimizer {
  /** Applies the model's (averaged) `gradients` to the parameters this optimizer owns. */
  step(model: TrainerModel): void | Promise<void>;
  /** The learning rate now (logged). */
  readonly learningRate?: number;
  stateDict(): StateDict | Promise<StateDict>;
  loadStateDict(state: StateDict): void | Promise<void>;
}
