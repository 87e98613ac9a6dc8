/** How the batches of several training loaders are interleaved within an epoch. */
export const SamplingStrategy = {
  /** Loader 0, loader 1, ... in turn, `burstSize` batches each. */
  ROUND_ROBIN: 'ROUND_ROBIN',
  /** Per-epoch counts apportioned by weight (largest remainder), in an order shuffled from the seed. */
  WEIGHTED: 'WEIGHTED',
  /** A user pattern of loader indices, `burstSize` batches per entry. */
  ALTERNATING: 'ALTERNATING',
  /** All of loader 0, then all of loader 1, ... */
  SEQUENTIAL: 'SEQUENTIAL',
} as const;
export type SamplingStrategy = (typeof SamplingStrategy)[keyof typeof SamplingStrategy];

/** How many steps an epoch has. */
export const EpochLengthPolicy = {
  /** Every loader's batches once: the sum of the lengths. */
  SUM_OF_LENGTHS: 'SUM_OF_LENGTHS',
  /** Every loader as long as the longest (shorter ones cycle): loaders x max length. */
  MAX_OF_LENGTHS: 'MAX_OF_LENGTHS',
  /** Every loader as long as the shortest: loaders x min length. */
  MIN_OF_LENGTHS: 'MIN_OF_LENGTHS',
  /** Exactly `stepsPerEpoch` steps. */
  FIXED_NUM_STEPS: 'FIXED_NUM_STEPS',
} as const;
export type EpochLengthPolicy = (typeof EpochLengthPolicy)[keyof typeof EpochLengthPolicy];

/** How per-batch metrics are reduced into epoch values (and across ranks). */
export const AggregationStrategy = {
  /** Weighted by each batch's size: the mean over samples. */
  WEIGHTED_AVERAGE: 'WEIGHTED_AVERAGE',
  /** Every batch counts the same: the mean over batches. */
  SIMPLE_AVERAGE: 'SIMPLE_AVERAGE',
} as const;
export type AggregationStrategy = (typeof AggregationStrategy)[keyof typeof AggregationStrategy];

export const SAMPLING_STRATEGIES = Object.values(SamplingStrategy);
export const EPOCH_LENGTH_POLICIES = Object.values(EpochLengthPolicy);
export const AGGREGATION_STRATEGIES = Object.values(AggregationStrategy);
