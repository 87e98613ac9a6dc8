import { ValidationError } from '../errors/index.js';

/**
 * A dataset the trainer reads in batches of global sample indices. The trainer gives each rank its share
 * of every batch through an ElasticSampler, so the loader only maps indices to a batch.
 */
export interface TrainerDataLoader<B = unknown> {
  /** Samples in the dataset (indices 0 .. datasetSize - 1). */
  readonly datasetSize: number;
  /** Samples per rank per batch. */
  readonly batchSize: number;
  /** The batch of these samples (in this order). */
  getBatch(indices: readonly number[]): B | Promise<B>;
  /** Called once the step is done with the batch (e.g. to dispose tensors). */
  disposeBatch?(batch: B): void;
}

export function checkLoader(loader: TrainerDataLoader, key: string): void {
  const ok = loader !== null && typeof loader === 'object' && Number.isSafeInteger(loader.datasetSize) && loader.datasetSize > 0 && Number.isSafeInteger(loader.batchSize) && loader.batchSize > 0 && typeof loader.getBatch === 'function';
  if (!ok) {
    throw new ValidationError(`${key} is not a loader: it needs datasetSize > 0, batchSize > 0 and getBatch(indices)`, { configKey: key, suggestions: ['Pass createDataLoader({ datasetSize, batchSize, getBatch }) or an object of that shape.'] });
  }
}

/** A loader from its three parts. */
export function createDataLoader<B>(options: TrainerDataLoader<B>): TrainerDataLoader<B> {
  checkLoader(options as TrainerDataLoader, 'loader');
  return options;
}
