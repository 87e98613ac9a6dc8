import { deriveSeed, ElasticSampler, type ElasticSamplerState } from '../data/index.js';
import { TrainerError } from '../errors/index.js';
import type { TrainerDataLoader } from './data-loader.js';

/** Sampler epochs per trainer epoch: pass p of epoch e is the sampler's epoch e * PASS_STRIDE + p. */
export const PASS_STRIDE = 1000;

export interface LoaderCursorState {
  sampler: ElasticSamplerState;
  /** Passes over this loader already started in the epoch (a short loader that cycles makes several). */
  pass: number;
  /** Batches taken in the epoch (the batchIdx the step function sees). */
  taken: number;
}

/**
 * One loader's position: this rank's sampler over it and the pass within the epoch. A loader the schedule
 * asks for more batches than it has starts a new pass, with a fresh order.
 */
export class LoaderCursor {
  readonly sampler: ElasticSampler;
  private epoch = 0;
  private pass = 0;
  private taken = 0;

  constructor(readonly loader: TrainerDataLoader, readonly name: string, options: { rank: number; worldSize: number; seed: number; loaderIndex: number; shuffle: boolean; dropLast: boolean }) {
    this.sampler = new ElasticSampler({
      datasetSize: loader.datasetSize,
      batchSize: loader.batchSize,
      rank: options.rank,
      worldSize: options.worldSize,
      // Each loader its own order, from the run's seed.
      seed: deriveSeed(options.seed, options.loaderIndex),
      shuffle: options.shuffle,
      dropLast: options.dropLast,
    });
  }

  /** Global batches in a whole pass at this world size: the loader's length for the schedule. */
  get length(): number {
    return this.sampler.batchesPerEpoch;
  }

  get batchIndex(): number {
    return this.taken;
  }

  startEpoch(epoch: number): void {
    this.epoch = epoch;
    this.pass = 0;
    this.taken = 0;
    this.sampler.setEpoch(epoch * PASS_STRIDE);
  }

  /** This rank's sample indices of the next batch. */
  next(): number[] {
    let batch = this.sampler.nextBatch();
    if (batch === null) {
      this.pass += 1;
      this.sampler.setEpoch(this.epoch * PASS_STRIDE + this.pass);
      batch = this.sampler.nextBatch();
      if (batch === null) throw new TrainerError(`loader "${this.name}" gave no batch even from a fresh pass (${this.loader.datasetSize} samples, dropLast with a global batch of ${this.sampler.globalBatchSize}?)`, { phase: 'data' });
    }
    this.taken += 1;
    return batch;
  }

  stateDict(): LoaderCursorState {
    return { sampler: this.sampler.stateDict(), pass: this.pass, taken: this.taken };
  }

  loadStateDict(state: LoaderCursorState, epoch: number): void {
    this.sampler.loadStateDict(state.sampler);
    this.epoch = epoch;
    this.pass = state.pass;
    this.taken = state.taken;
  }
}
