/**
 * 32-bit integer mixing shared by the permutation and the RNG. Math.imul keeps every step exact in JavaScript
 * numbers, so the same seed gives the same bits on every machine and Node version.
 */

/** A strong 32-bit finaliser (murmur3's fmix32): every input bit affects every output bit. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Folds a safe integer (up to 2^53) into 32 bits, high part included, so seeds above 2^32 stay distinct. */
export function fold53(x: number): number {
  const lo = x >>> 0;
  const hi = Math.floor(x / 0x100000000) >>> 0;
  return mix32(lo ^ mix32(hi + 0x9e3779b9));
}

/** The key of one stream of (seed, epoch, purpose): independent streams for the permutation's rounds. */
export function streamKey(seed: number, epoch: number, purpose: number): number {
  return mix32(fold53(seed) ^ mix32(fold53(epoch) + Math.imul(purpose + 1, 0x632be5ab)));
}

/**
 * One seed for a sub-stream, from a run's seed and any integers naming the stream (a loader's index, an epoch,
 * a purpose), so that nearby inputs give unrelated streams: `new SeededRng(deriveSeed(seed, epoch, 7))`.
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = fold53(seed);
  for (const [i, p] of parts.entries()) h = streamKey(h, p, i);
  return h;
}
