import { createHash } from 'node:crypto';
import { ConfigurationError } from '../errors/index.js';
import { checkValue, type ParamValue } from './values.js';

/** How a sampled parameter draws its value. */
export type Distribution =
  | { distribution: 'uniform'; low: number; high: number; round?: number }
  | { distribution: 'loguniform'; low: number; high: number; round?: number }
  | { distribution: 'normal'; mean: number; std: number; round?: number }
  | { distribution: 'choice'; values: ParamValue[]; weights?: number[] };

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Throws a ConfigurationError naming the key unless `d` is a well-formed distribution. */
export function checkDistribution(d: unknown, key: string, where: string): Distribution {
  const fail = (problem: string, fix: string): never => {
    throw new ConfigurationError(`${where}: sampled parameter ${key}: ${problem}`, { configKey: key, suggestions: [fix] });
  };
  if (d === null || typeof d !== 'object') return fail('expected a distribution mapping', 'Write e.g. {distribution: loguniform, low: 1e-5, high: 1e-2}.');
  const o = d as Record<string, unknown>;
  const round = o.round;
  if (round !== undefined && !(finite(round) && round > 0)) fail(`round must be a positive number, got ${JSON.stringify(round)}`, 'Use e.g. round: 1 for integers, or leave it out.');
  switch (o.distribution) {
    case 'uniform':
    case 'loguniform': {
      if (!finite(o.low) || !finite(o.high) || !(o.low < o.high)) fail(`needs finite low < high, got low ${JSON.stringify(o.low)}, high ${JSON.stringify(o.high)}`, 'Give low and high with low < high.');
      if (o.distribution === 'loguniform' && !((o.low as number) > 0)) fail(`loguniform needs low > 0, got ${String(o.low)}`, 'Use a positive lower bound such as 1e-6.');
      return { distribution: o.distribution, low: o.low as number, high: o.high as number, round: round as number | undefined };
    }
    case 'normal':
      if (!finite(o.mean) || !finite(o.std) || !(o.std > 0)) fail(`needs a finite mean and std > 0, got mean ${JSON.stringify(o.mean)}, std ${JSON.stringify(o.std)}`, 'Give mean and a positive std.');
      return { distribution: 'normal', mean: o.mean as number, std: o.std as number, round: round as number | undefined };
    case 'choice': {
      if (!Array.isArray(o.values) || o.values.length === 0) return fail('choice needs a non-empty list of values', 'Give values: [a, b, ...].');
      const values = o.values.map((v) => checkValue(v, key, where));
      let weights: number[] | undefined;
      if (o.weights !== undefined) {
        const w = o.weights;
        if (!Array.isArray(w) || w.length !== values.length || !w.every((x) => finite(x) && x >= 0) || !w.some((x) => (x as number) > 0)) {
          fail(`weights must be ${values.length} non-negative numbers, not all zero, got ${JSON.stringify(w)}`, 'Give one weight per value (they need not sum to 1).');
        }
        weights = w as number[];
      }
      return { distribution: 'choice', values, weights };
    }
    default:
      return fail(`unknown distribution ${JSON.stringify(o.distribution)}`, 'Use uniform, loguniform, normal or choice.');
  }
}

/**
 * Two uniform numbers in [0, 1) for draw `index` of `key` under `seed`: a hash of the three, so that a draw depends
 * on nothing else (not the order of iteration, nor the other keys) and any draw can be made without the ones before.
 */
function uniforms(seed: number, key: string, index: number): [number, number] {
  const h = createHash('sha256').update(`${seed}\u0000${key}\u0000${index}`).digest();
  // 53 random bits each, the precision of a double.
  const u = (o: number): number => (h.readUInt32BE(o) * 2 ** 21 + (h.readUInt32BE(o + 4) >>> 11)) / 2 ** 53;
  return [u(0), u(8)];
}

function rounded(x: number, step: number | undefined): number {
  if (step === undefined) return x;
  const r = Math.round(x / step) * step;
  // Remove the binary noise of the multiplication (0.30000000000000004).
  return Number(r.toPrecision(12));
}

/** Draw number `index` of `key` from `d`, reproducible from `seed`. */
export function drawSample(d: Distribution, seed: number, key: string, index: number): ParamValue {
  const [u1, u2] = uniforms(seed, key, index);
  switch (d.distribution) {
    case 'uniform':
      return rounded(d.low + u1 * (d.high - d.low), d.round);
    case 'loguniform':
      return rounded(Math.exp(Math.log(d.low) + u1 * (Math.log(d.high) - Math.log(d.low))), d.round);
    case 'normal': {
      // Box-Muller; 1 - u1 is in (0, 1], so the log is finite.
      const z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
      return rounded(d.mean + d.std * z, d.round);
    }
    case 'choice': {
      const w = d.weights ?? d.values.map(() => 1);
      const total = w.reduce((a, b) => a + b, 0);
      let t = u1 * total;
      for (let i = 0; i < w.length; i++) {
        if (t < w[i]) return structuredClone(d.values[i]);
        t -= w[i];
      }
      // Rounding at the top end: the last value with a weight.
      const last = w.map((x, i) => (x > 0 ? i : -1)).filter((i) => i >= 0).pop() ?? 0;
      return structuredClone(d.values[last]);
    }
  }
}
