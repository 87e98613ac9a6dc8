/**
 * elastic-harness/data: an elastic sampler that hands out each sample of an epoch exactly once across restarts
 * and changes of world size, a resumable token dataset, a checkpointable RNG, and the resume path.
 */
export { EpochPermutation, MAX_DATASET_SIZE } from './permutation.js';
export { SeededRng, type RngState } from './rng.js';
export { deriveSeed } from './hash.js';
export { ElasticSampler, type ElasticSamplerOptions, type ElasticSamplerState } from './sampler.js';
export { IndexBuilder, type IndexBuilderOptions } from './index-builder.js';
export { TokenIndexFile, type TokenLocation } from './token-index-file.js';
export { ResumableDataset, type ResumableDatasetOptions, type ResumableDatasetState } from './resumable-dataset.js';
export { TOKEN_MAGIC, TOKEN_FORMAT_VERSION, type TokenWidth } from './token-format.js';
export { FileProgressBeacon, type ProgressBeacon, type ProgressRecord } from './progress-beacon.js';
export { captureTrainingState, type TrainingComponents, type Restorable } from './training-state.js';
export { resumeTraining, TrainingResume, type ResumeTrainingOptions } from './resume.js';
