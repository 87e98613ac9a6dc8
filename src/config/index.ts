/**
 * elastic-harness/config: the training config file (YAML or JSON): its schema and defaults, loading, validation
 * (types, ranges, rules across keys, unknown keys) and an optional check that the S3 bucket is reachable.
 */
export {
  TrainingConfigSchema,
  ElasticSectionSchema,
  CheckpointSectionSchema,
  ScalingSectionSchema,
  TrainingSectionSchema,
  ModelSectionSchema,
  DataSectionSchema,
  RdzvConfSchema,
  GradientClippingSchema,
  SECTION_NAMES,
  defaultConfig,
  type TrainingConfig,
  type TrainingConfigInput,
  type ElasticSection,
  type CheckpointSection,
  type ScalingSection,
  type TrainingSection,
  type ModelSection,
  type DataSection,
} from './schema.js';
export { toConfigurationError, type ValidationResult, type ConfigIssue } from './result.js';
export { validateElasticConfig, type ConfigValidationResult } from './validate.js';
export { validateConfig, type ValidateConfigOptions } from './validate-config.js';
export { validateS3Access, s3KeyProblem, assertS3Prefix, type S3AccessOptions } from './s3.js';
export { loadConfigFile, loadConfig, type LoadedConfig } from './load.js';
export { didYouMean } from './suggest.js';
