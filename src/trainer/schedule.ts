import { ValidationError } from '../errors/index.js';
import { deriveSeed, SeededRng } from '../data/index.js';
import { apportion } from './apportion.js';
import { parseMultiDataLoaderConfig, type MultiDataLoaderConfig, type MultiDataLoaderConfigInput } from './config.js';

/** One step of an epoch: which loader gives its batch. */
export interface ScheduledStep {
  loaderIndex: number;
  loaderName: string;
}

export interface ScheduleOptions {
  seed?: number;
  epoch?: number;
}

function checkLengths(config: MultiDataLoaderConfig, lengths: readonly number[]): void {
  const n = config.dataloaderNames.length;
  if (lengths.length !== n) {
    throw new ValidationError(`${lengths.length} loaders for ${n} names (${config.dataloaderNames.join(', ')}): give one name per loader`, { configKey: 'dataloaderNames' });
  }
  for (const [i, l] of lengths.entries()) {
    if (!Number.isInteger(l) || l < 0) throw new ValidationError(`loader "${config.dataloaderNames[i]}" has length ${l}: a whole number of batches >= 0 is needed`, { configKey: `dataloaderNames[${i}]` });
  }
}

/** The epoch's total steps under its length policy. */
function totalSteps(config: MultiDataLoaderConfig, lengths: readonly number[]): number {
  const n = lengths.length;
  switch (config.epochLengthPolicy) {
    case 'SUM_OF_LENGTHS':
      return lengths.reduce((a, b) => a + b, 0);
    case 'MAX_OF_LENGTHS':
      return n * Math.max(...lengths);
    case 'MIN_OF_LENGTHS':
      return n * Math.min(...lengths);
    case 'FIXED_NUM_STEPS':
      return config.stepsPerEpoch ?? 0;
  }
}

/** Per-loader step counts, or null when the strategy decides them while emitting (FIXED_NUM_STEPS without weights). */
function quotas(config: MultiDataLoaderConfig, lengths: readonly number[], total: number): number[] | null {
  if (config.samplingStrategy === 'WEIGHTED') return apportion(total, config.dataloaderWeights ?? [], 'dataloaderWeights');
  switch (config.epochLengthPolicy) {
    case 'SUM_OF_LENGTHS':
      return [...lengths];
    case 'MAX_OF_LENGTHS':
      return lengths.map(() => Math.max(...lengths));
    case 'MIN_OF_LENGTHS':
      return lengths.map(() => Math.min(...lengths));
    case 'FIXED_NUM_STEPS':
      return null;
  }
}

/** Emit turns of a pattern, `burst` steps per entry, skipping loaders at their cap, until `limit` steps or nothing left. */
function emitPattern(pattern: readonly number[], burst: number, caps: readonly number[], limit: number): number[] {
  const used = caps.map(() => 0);
  const out: number[] = [];
  while (out.length < limit) {
    const before = out.length;
    for (const li of pattern) {
      for (let b = 0; b < burst && used[li] < caps[li] && out.length < limit; b++) {
        out.push(li);
        used[li] += 1;
      }
      if (out.length >= limit) break;
    }
    if (out.length === before) break;
  }
  return out;
}

/**
 * Loader by loader. With counts, each loader's whole count in a row; without (a fixed total), passes over
 * every loader's length, repeated only when cycling.
 */
function emitSequential(lengths: readonly number[], counts: readonly number[] | null, limit: number, cycle: boolean): number[] {
  const out: number[] = [];
  if (counts !== null) {
    for (const [li, c] of counts.entries()) for (let k = 0; k < c && out.length < limit; k++) out.push(li);
    return out;
  }
  while (out.length < limit) {
    const before = out.length;
    for (const [li, len] of lengths.entries()) for (let k = 0; k < len && out.length < limit; k++) out.push(li);
    if (out.length === before || !cycle) break;
  }
  return out;
}

/** Names the schedule's random stream, apart from the samplers' (which derive theirs from the same seed). */
const SCHEDULE_STREAM = 0x5eed;

/** Fisher-Yates over the multiset of loader indices, from a PRNG seeded by (seed, epoch). */
function shuffled(counts: readonly number[], seed: number, epoch: number): number[] {
  const out: number[] = [];
  for (const [li, c] of counts.entries()) for (let k = 0; k < c; k++) out.push(li);
  return new SeededRng(deriveSeed(seed, epoch, SCHEDULE_STREAM)).shuffle(out);
}

/**
 * The steps of one epoch: a pure function of the loader config, each loader's length in batches, the seed
 * and the epoch. Every rank computes the same list, and a resumed run recomputes it, so the position in the
 * list is all the state the schedule needs.
 *
 * The length policy gives the total; WEIGHTED apportions it by largest remainder, the other strategies give
 * each loader its length (SUM), the longest (MAX) or the shortest (MIN) length, or emit until the fixed total
 * (FIXED_NUM_STEPS). A loader asked for more batches than it has starts over when `cycleShortLoaders`, else
 * drops out once empty (the epoch is then shorter).
 */
export function buildEpochSchedule(configInput: MultiDataLoaderConfig | MultiDataLoaderConfigInput, loaderLengths: readonly number[], options: ScheduleOptions = {}): ScheduledStep[] {
  const config = parseMultiDataLoaderConfig(configInput as MultiDataLoaderConfigInput);
  checkLengths(config, loaderLengths);
  const seed = options.seed ?? 0;
  const epoch = options.epoch ?? 0;
  const total = totalSteps(config, loaderLengths);
  const cycle = config.cycleShortLoaders;
  const q = quotas(config, loaderLengths, total);
  // A loader of length 0 can give nothing, cycling or not.
  const caps = loaderLengths.map((len, i) => (len === 0 ? 0 : q === null ? (cycle ? Infinity : len) : cycle ? q[i] : Math.min(q[i], len)));
  const n = loaderLengths.length;
  let order: number[];
  switch (config.samplingStrategy) {
    case 'WEIGHTED':
      order = shuffled(caps, seed, epoch);
      break;
    case 'ROUND_ROBIN':
      order = emitPattern(Array.from({ length: n }, (_, i) => i), config.burstSize, caps, total);
      break;
    case 'ALTERNATING':
      order = emitPattern(config.alternatingPattern ?? [], config.burstSize, caps, total);
      break;
    case 'SEQUENTIAL':
      order = emitSequential(loaderLengths, q === null ? null : caps, total, cycle);
      break;
  }
  return order.map((loaderIndex) => ({ loaderIndex, loaderName: config.dataloaderNames[loaderIndex] }));
}

/** How many steps of each loader a schedule holds. */
export function countByLoader(schedule: readonly ScheduledStep[], loaders: number): number[] {
  const counts = new Array<number>(loaders).fill(0);
  for (const s of schedule) counts[s.loaderIndex] += 1;
  return counts;
}
