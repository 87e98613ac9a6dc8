import { ConfigurationError } from '../errors/index.js';
import { EpochPermutation } from './permutation.js';

export interface ElasticSamplerOptions {
  /** Number of samples in the dataset (global indices 0 .. datasetSize - 1). */
  datasetSize: number;
  /** Samples per rank per batch (the micro-batch a rank trains on); the global batch is batchSize * worldSize. */
  batchSize: number;
  /** This process's rank in [0, worldSize); default 0. */
  rank?: number;
  /** Number of ranks sharing each global batch; default 1. */
  worldSize?: number;
  /** Seed of the epoch orders; default 0. */
  seed?: number;
  /** Shuffle each epoch (a permutation of (seed, epoch)); false keeps index order. Default true. */
  shuffle?: boolean;
  /**
   * Drop the epoch's last global batch when it is short (fewer than batchSize * worldSize samples left); those
   * samples are not seen in that epoch. Default false: the short batch is split over the ranks as evenly as
   * possible (sizes differ by at most one, and a rank gets an empty batch when fewer samples than ranks remain).
   */
  dropLast?: boolean;
}

/**
 * The whole position of a sampler: a few numbers, never a list of indices. `cursor` counts the samples consumed
 * globally in `epoch` (the same on every rank), so any one rank's state resumes every rank, at any world size.
 * `batchSize` and `worldSize` record the world it was taken in; they do not constrain the one it is loaded into.
 */
export type ElasticSamplerState = {
  version: number;
  epoch: number;
  cursor: number;
  seed: number;
  datasetSize: number;
  shuffle: boolean;
  dropLast: boolean;
  batchSize: number;
  worldSize: number;
};

const STATE_VERSION = 1;

function positiveInt(v: unknown, key: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new ConfigurationError(`${key} must be an integer >= ${min}, got ${String(v)}`, { configKey: key });
  }
  return v;
}

/**
 * Hands each rank its share of every global batch of an epoch, so that across ranks, restarts and changes of
 * world size each sample of the epoch is consumed exactly once.
 *
 * The epoch's order is EpochPermutation(seed, epoch). From the cursor c, the rest of the epoch is cut into global
 * batches of G = batchSize * worldSize positions: [c, c + G), [c + G, c + 2G), ... and the last may be shorter.
 * Rank r takes positions [start + floor(r * m / W), start + floor((r + 1) * m / W)) of a global batch of m
 * positions: exactly batchSize of a full batch, within one of m / W of a short one. Every rank therefore sees
 * the same number of batches (`length`), a rank's slice depends only on (seed, epoch, cursor, rank, worldSize),
 * and after each yielded batch the cursor moves by the whole global batch, the same on every rank.
 *
 * The cursor moves when a batch is handed out: take stateDict() after training on a batch (at an optimizer-step
 * boundary under gradient accumulation) and it records exactly the samples whose updates the state holds.
 */
export class ElasticSampler implements Iterable<number[]> {
  readonly datasetSize: number;
  readonly batchSize: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  private epochValue = 0;
  private cursorValue = 0;
  private permutation: EpochPermutation;

  constructor(options: ElasticSamplerOptions) {
    this.datasetSize = positiveInt(options.datasetSize, 'datasetSize', 0);
    this.batchSize = positiveInt(options.batchSize, 'batchSize', 1);
    this.worldSize = positiveInt(options.worldSize ?? 1, 'worldSize', 1);
    this.rank = positiveInt(options.rank ?? 0, 'rank', 0);
    if (this.rank >= this.worldSize) throw new ConfigurationError(`rank ${this.rank} is not below worldSize ${this.worldSize}`, { configKey: 'rank' });
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new ConfigurationError(`seed must be a safe integer, got ${String(seed)}`, { configKey: 'seed' });
    this.seed = seed;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    this.permutation = this.permutationOf(0);
  }

  get epoch(): number {
    return this.epochValue;
  }

  /** Samples consumed globally in the current epoch. */
  get cursor(): number {
    return this.cursorValue;
  }

  /** Samples per global batch: batchSize * worldSize. */
  get globalBatchSize(): number {
    return this.batchSize * this.worldSize;
  }

  /** Batches left in the current epoch for this rank (the same number on every rank). */
  get length(): number {
    return this.batchesFrom(this.cursorValue);
  }

  /** Batches in a whole epoch at this world size. */
  get batchesPerEpoch(): number {
    return this.batchesFrom(0);
  }

  /**
   * Moves to epoch n at its start. Setting the epoch the sampler is already in keeps the cursor, so a training
   * loop that calls setEpoch(epoch) at the top of each epoch resumes mid-epoch after loadStateDict().
   */
  setEpoch(epoch: number): void {
    positiveInt(epoch, 'epoch', 0);
    if (epoch === this.epochValue) return;
    this.epochValue = epoch;
    this.cursorValue = 0;
    this.permutation = this.permutationOf(epoch);
  }

  /** The next batch of this rank (global sample indices), or null at the end of the epoch. Advances the cursor. */
  nextBatch(): number[] | null {
    const positions = this.slice(this.cursorValue);
    if (positions === null) return null;
    this.cursorValue = positions.next;
    const out = new Array<number>(positions.end - positions.start);
    for (let p = positions.start; p < positions.end; p++) out[p - positions.start] = this.permutation.at(p);
    return out;
  }

  /** The rest of the current epoch, one batch per iteration. */
  *[Symbol.iterator](): Iterator<number[]> {
    for (let batch = this.nextBatch(); batch !== null; batch = this.nextBatch()) yield batch;
  }

  /** The sample at position `position` of an epoch's order (any epoch; no state is changed). */
  sampleAt(position: number, epoch = this.epochValue): number {
    return (epoch === this.epochValue ? this.permutation : this.permutationOf(epoch)).at(position);
  }

  stateDict(): ElasticSamplerState {
    return {
      version: STATE_VERSION,
      epoch: this.epochValue,
      cursor: this.cursorValue,
      seed: this.seed,
      datasetSize: this.datasetSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
      batchSize: this.batchSize,
      worldSize: this.worldSize,
    };
  }

  /**
   * Continues from a state taken on any rank at any world size: the rest of that epoch is re-split over this
   * sampler's world from the saved cursor. The order must be the same one: a different datasetSize, seed or
   * shuffle would make the saved cursor point into another order, so each is refused.
   */
  loadStateDict(state: unknown): void {
    const s = state as Partial<ElasticSamplerState> | null;
    if (s === null || typeof s !== 'object') throw new ConfigurationError('a sampler state must be an object from ElasticSampler.stateDict()', { configKey: 'datasetState' });
    if (s.version !== STATE_VERSION) throw new ConfigurationError(`sampler state version ${String(s.version)} is not ${STATE_VERSION}`, { configKey: 'datasetState.version' });
    const epoch = positiveInt(s.epoch, 'datasetState.epoch', 0);
    const cursor = positiveInt(s.cursor, 'datasetState.cursor', 0);
    const same = (key: 'datasetSize' | 'seed' | 'shuffle', mine: number | boolean): void => {
      if (s[key] !== mine) {
        throw new ConfigurationError(`the sampler state was saved with ${key} ${String(s[key])}, this sampler has ${String(mine)}`, {
          configKey: `datasetState.${key}`,
          suggestions: [`Create the sampler with the ${key} the run started with; another one would repeat or skip samples.`],
        });
      }
    };
    same('datasetSize', this.datasetSize);
    same('seed', this.seed);
    same('shuffle', this.shuffle);
    if (cursor > this.datasetSize) throw new ConfigurationError(`sampler cursor ${cursor} is past the dataset's ${this.datasetSize} samples`, { configKey: 'datasetState.cursor' });
    this.epochValue = epoch;
    this.cursorValue = cursor;
    this.permutation = this.permutationOf(epoch);
  }

  private permutationOf(epoch: number): EpochPermutation {
    return new EpochPermutation({ size: this.datasetSize, seed: this.seed, epoch, shuffle: this.shuffle });
  }

  private batchesFrom(cursor: number): number {
    const left = this.datasetSize - cursor;
    if (left <= 0) return 0;
    const g = this.globalBatchSize;
    return this.dropLast ? Math.floor(left / g) : Math.ceil(left / g);
  }

  /** Positions of this rank's part of the global batch starting at `cursor`, and where the next one starts. */
  private slice(cursor: number): { start: number; end: number; next: number } | null {
    const left = this.datasetSize - cursor;
    const g = this.globalBatchSize;
    if (left <= 0 || (this.dropLast && left < g)) return null;
    const m = Math.min(g, left);
    const w = this.worldSize;
    return { start: cursor + Math.floor((this.rank * m) / w), end: cursor + Math.floor(((this.rank + 1) * m) / w), next: cursor + m };
  }
}
