import { ConfigurationError } from '../errors/index.js';
import { mix32, streamKey } from './hash.js';

/** The largest dataset a permutation covers: indices stay exact doubles with room for the Feistel domain. */
export const MAX_DATASET_SIZE = 2 ** 48;

const ROUNDS = 6;

/**
 * A pseudo-random bijection of [0, size) that is a pure function of (seed, epoch), evaluated one index at a time:
 * a balanced Feistel network over the smallest even power of two >= size, with cycle walking to stay inside
 * [0, size). Nothing of size `size` is ever materialised, so an epoch over 10^8 samples costs no memory, and the
 * position of a sample can be computed on any rank from three numbers.
 */
export class EpochPermutation {
  readonly size: number;
  readonly seed: number;
  readonly epoch: number;
  readonly shuffle: boolean;
  private readonly halfBits: number;
  private readonly half: number;
  private readonly mask: number;
  private readonly keys: number[];

  constructor(options: { size: number; seed: number; epoch: number; shuffle?: boolean }) {
    const { size, seed, epoch } = options;
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_DATASET_SIZE) {
      throw new ConfigurationError(`datasetSize must be an integer in [0, 2^48], got ${String(size)}`, { configKey: 'datasetSize' });
    }
    if (!Number.isSafeInteger(seed)) throw new ConfigurationError(`seed must be a safe integer, got ${String(seed)}`, { configKey: 'seed' });
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ConfigurationError(`epoch must be a non-negative integer, got ${String(epoch)}`, { configKey: 'epoch' });
    this.size = size;
    this.seed = seed;
    this.epoch = epoch;
    this.shuffle = options.shuffle ?? true;
    let bits = 2;
    while (2 ** bits < size) bits += 2;
    this.halfBits = bits / 2;
    this.half = 2 ** this.halfBits;
    this.mask = this.half - 1;
    this.keys = Array.from({ length: ROUNDS }, (_, i) => streamKey(seed, epoch, i));
  }

  /** The sample index at position `i` of the epoch's order. */
  at(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`position ${i} is outside [0, ${this.size})`);
    if (!this.shuffle) return i;
    let x = i;
    // Cycle walking: the Feistel permutes the whole power-of-two domain; following x's cycle until it lands back
    // inside [0, size) restricts it to a permutation of [0, size). The domain is < 4 * size, so few steps.
    do x = this.feistel(x);
    while (x >= this.size);
    return x;
  }

  private feistel(x: number): number {
    let left = Math.floor(x / this.half);
    let right = x % this.half;
    for (const key of this.keys) {
      const next = (left ^ (mix32(right ^ key) & this.mask)) >>> 0;
      left = right;
      right = next;
    }
    return left * this.half + right;
  }
}
