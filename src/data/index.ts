/**
 * elastic-harness/data: an elastic sampler that hands out each sample of an epoch exactly once across restarts
 * and changes of world size, a resumable token dataset, a checkpointable RNG, and the resume path.
 */
export { EpochPermutation, MAX_DATASET_SIZE } from './permutation.js';
export { SeededRng, type RngState } from './rng.js';
export { ElasticSampler, type ElasticSamplerOptions, type ElasticSamplerState } from './sampler.js';
