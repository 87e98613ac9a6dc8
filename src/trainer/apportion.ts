import { ValidationError } from '../errors/index.js';

/**
 * Splits `total` into integer shares proportional to `weights` by the largest-remainder (Hamilton) method:
 * each share is the floor of its quota, and the units left go to the largest fractional remainders (ties to
 * the lower index). The shares always sum to `total`.
 */
export function apportion(total: number, weights: readonly number[], key = 'dataloaderWeights'): number[] {
  if (!Number.isInteger(total) || total < 0) throw new ValidationError(`cannot apportion ${total} steps: a whole number >= 0 is needed`, { configKey: key });
  if (weights.length === 0) throw new ValidationError('no weights given: give one weight per loader', { configKey: key });
  for (const [i, w] of weights.entries()) {
    if (!Number.isFinite(w) || w < 0) throw new ValidationError(`weight ${i} is ${w}: weights must be finite and not negative`, { configKey: `${key}[${i}]` });
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw new ValidationError('all weights are zero: at least one must be positive', { configKey: key });
  const quotas = weights.map((w) => (total * w) / sum);
  const shares = quotas.map((q) => Math.floor(q));
  let left = total - shares.reduce((a, b) => a + b, 0);
  const order = quotas.map((q, i) => ({ i, r: q - Math.floor(q) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    shares[i] += 1;
    left -= 1;
  }
  return shares;
}
