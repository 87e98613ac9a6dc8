import { ConfigurationError } from '../errors/index.js';
import { fold53, mix32 } from './hash.js';

/** The checkpointable state of a SeededRng: four 32-bit words, JSON as is. */
export interface RngState {
  algorithm: 'sfc32';
  state: [number, number, number, number];
}

/**
 * A small, fast, checkpointable PRNG (Chris Doty-Humphrey's sfc32, 128 bits of state) for users' own randomness
 * (augmentation, dropout masks, sampling): unlike Math.random its state can be saved into
 * CheckpointState.rngStates and restored, so a resumed run draws the same numbers an uninterrupted one would.
 */
export class SeededRng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed = 0) {
    if (!Number.isSafeInteger(seed)) throw new ConfigurationError(`an RNG seed must be a safe integer, got ${String(seed)}`, { configKey: 'seed' });
    const s = fold53(seed);
    this.a = mix32(s ^ 0x243f6a88);
    this.b = mix32(s ^ 0x85a308d3);
    this.c = mix32(s ^ 0x13198a2e);
    this.d = 1;
    // The first outputs of sfc32 still show the seed's structure; the reference implementation discards 12.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Uniform on [0, 2^32). */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform on [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 0x100000000;
  }

  /** Uniform integer on [0, n), without modulo bias (rejection sampling). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new RangeError(`nextInt needs an integer in [1, 2^32], got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  getState(): RngState {
    return { algorithm: 'sfc32', state: [this.a, this.b, this.c, this.d] };
  }

  setState(state: unknown): void {
    const s = state as Partial<RngState> | null;
    const words = s?.state;
    if (s === null || typeof s !== 'object' || s.algorithm !== 'sfc32' || !Array.isArray(words) || words.length !== 4 || !words.every((w) => Number.isInteger(w) && w >= 0 && w < 0x100000000)) {
      throw new ConfigurationError('not an sfc32 RNG state ({algorithm: "sfc32", state: four 32-bit words})', { configKey: 'rngStates' });
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
  }

  /** The state-dict pair, so a SeededRng is Stateful for createCheckpointState and the resume path. */
  stateDict(): { algorithm: string; state: number[] } {
    const s = this.getState();
    return { algorithm: s.algorithm, state: [...s.state] };
  }

  loadStateDict(state: unknown): void {
    this.setState(state);
  }
}
