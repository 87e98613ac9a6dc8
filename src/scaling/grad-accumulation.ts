import { TopologyChangeError } from '../errors/index.js';
import { accumulationStepsFor, GradAccumulationConfig } from './config.js';
import { asRecord, isNonNegativeInt, isPositiveInt, readNumber } from './state.js';

export interface GradAccumulationState {
  accumulationSteps: number;
  worldSize: number;
  /** Micro-batches accumulated since the last optimizer step. */
  microStep: number;
}

/** Keeps the global batch near its target across world-size changes by changing the accumulation count. */
export class GradientAccumulationManager {
  readonly config: GradAccumulationConfig;
  private steps: number;
  private worldSize: number;
  private microStep = 0;

  constructor(config: GradAccumulationConfig) {
    this.config = config;
    this.worldSize = config.baseWorldSize;
    this.steps = accumulationStepsFor(config, this.worldSize);
  }

  get accumulationSteps(): number {
    return this.steps;
  }

  get currentWorldSize(): number {
    return this.worldSize;
  }

  /** The global batch actually obtained: steps * localBatchSize * worldSize. */
  get effectiveBatchSize(): number {
    return this.steps * this.config.localBatchSize * this.worldSize;
  }

  /** Divide each micro-batch's loss by this so the accumulated gradient is a mean. */
  get lossScaleFactor(): number {
    return this.steps;
  }

  /** Micro-batches accumulated since the last optimizer step. */
  get currentMicroStep(): number {
    return this.microStep;
  }

  /**
   * Recomputes the count for `newWorldSize` and returns it. Discards the partial accumulation: gradients
   * summed under the old world are not a valid part of a batch of the new one.
   */
  onTopologyChange(newWorldSize: number): number {
    if (typeof newWorldSize !== 'number' || !Number.isInteger(newWorldSize) || newWorldSize < 1) {
      throw new TopologyChangeError(`New world size must be a whole number >= 1, got ${String(newWorldSize)}`, {
        oldWorldSize: this.worldSize,
        newWorldSize,
        suggestions: ['Pass the number of workers after the change (WORLD_SIZE).'],
      });
    }
    this.worldSize = newWorldSize;
    this.steps = accumulationStepsFor(this.config, newWorldSize);
    this.microStep = 0;
    return this.steps;
  }

  /** Call once per micro-batch, after backward: true when the optimizer should step (and the count restarts). */
  shouldStep(): boolean {
    this.microStep += 1;
    if (this.microStep >= this.steps) {
      this.microStep = 0;
      return true;
    }
    return false;
  }

  reset(): void {
    this.microStep = 0;
  }

  stateDict(): GradAccumulationState {
    return { accumulationSteps: this.steps, worldSize: this.worldSize, microStep: this.microStep };
  }

  loadStateDict(state: GradAccumulationState): void {
    const owner = 'GradientAccumulationManager';
    const s = asRecord(state, owner);
    const steps = readNumber(s, 'accumulationSteps', owner, isPositiveInt);
    const worldSize = readNumber(s, 'worldSize', owner, isPositiveInt);
    const microStep = readNumber(s, 'microStep', owner, isNonNegativeInt);
    this.steps = steps;
    this.worldSize = worldSize;
    this.microStep = microStep;
  }
}
