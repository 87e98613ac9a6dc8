import { ValidationError } from '../errors/index.js';
import { AGGREGATION_STRATEGIES, AggregationStrategy } from './enums.js';

/** Something that sums a Float64Array across ranks (the trainer passes its process group). */
export type SumAcrossRanks = (values: Float64Array) => Promise<Float64Array>;

interface Running {
  sum: number;
  weight: number;
}

/**
 * Per-loader and epoch metrics. Each batch's scalars are added under `{loaderName}/{metric}` and under the
 * plain metric name (the epoch aggregate over every loader); WEIGHTED_AVERAGE weights a batch by its size
 * (the mean over samples), SIMPLE_AVERAGE counts each batch once. `reduce()` combines every rank's sums, so
 * the epoch figure is the world's, not rank 0's.
 */
export class MetricsManager {
  readonly aggregationStrategy: AggregationStrategy;
  private readonly running = new Map<string, Running>();

  constructor(options: { aggregationStrategy?: AggregationStrategy } = {}) {
    const s = options.aggregationStrategy ?? AggregationStrategy.WEIGHTED_AVERAGE;
    if (!(AGGREGATION_STRATEGIES as readonly string[]).includes(s)) throw new ValidationError(`unknown aggregation strategy ${String(s)}: use WEIGHTED_AVERAGE or SIMPLE_AVERAGE`, { configKey: 'aggregationStrategy' });
    this.aggregationStrategy = s;
  }

  /** One batch's scalars from loader `loaderName` with `batchSize` samples. */
  add(loaderName: string, values: Readonly<Record<string, number>>, batchSize: number): void {
    const w = this.aggregationStrategy === AggregationStrategy.WEIGHTED_AVERAGE ? batchSize : 1;
    if (w <= 0) return;
    for (const [name, v] of Object.entries(values)) {
      if (!Number.isFinite(v)) continue;
      // A name the step already scoped (`primary/loss`) is kept as is.
      const keys = name.includes('/') ? [name] : [`${loaderName}/${name}`, name];
      for (const k of keys) {
        const r = this.running.get(k) ?? { sum: 0, weight: 0 };
        r.sum += v * w;
        r.weight += w;
        this.running.set(k, r);
      }
    }
  }

  /** The averages so far on this rank. */
  compute(prefix = ''): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, r] of [...this.running].sort(([a], [b]) => (a < b ? -1 : 1))) if (r.weight > 0) out[`${prefix}${k}`] = r.sum / r.weight;
    return out;
  }

  /**
   * The averages over every rank: sums and weights reduced with `sumAcrossRanks`. Every rank must call it
   * with the same metric names (the trainer's ranks run the same step function over the same schedule).
   */
  async reduce(sumAcrossRanks: SumAcrossRanks, prefix = ''): Promise<Record<string, number>> {
    const keys = [...this.running.keys()].sort();
    const flat = new Float64Array(keys.length * 2);
    keys.forEach((k, i) => {
      const r = this.running.get(k) as Running;
      flat[2 * i] = r.sum;
      flat[2 * i + 1] = r.weight;
    });
    const total = keys.length === 0 ? flat : await sumAcrossRanks(flat);
    const out: Record<string, number> = {};
    keys.forEach((k, i) => {
      if (total[2 * i + 1] > 0) out[`${prefix}${k}`] = total[2 * i] / total[2 * i + 1];
    });
    return out;
  }

  reset(): void {
    this.running.clear();
  }

  stateDict(): Record<string, [number, number]> {
    const out: Record<string, [number, number]> = {};
    for (const [k, r] of this.running) out[k] = [r.sum, r.weight];
    return out;
  }

  loadStateDict(state: Record<string, [number, number]>): void {
    this.running.clear();
    for (const [k, [sum, weight]] of Object.entries(state)) this.running.set(k, { sum, weight });
  }
}
