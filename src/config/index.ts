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
export { ELASTIC_DEFAULTS, ELASTIC_RDZV_CONF_DEFAULTS, LAUNCHER_ONLY_DEFAULTS, defaultHeartbeatInterval } from './defaults.js';
export { MAX_CONFIG_BYTES } from './read-text.js';
export { MAX_ALIASED_VALUES } from './parse-yaml.js';
export { toConfigurationError, type ValidationResult, type ConfigIssue } from './result.js';
export { validateElasticConfig, type ConfigValidationResult } from './validate.js';
export { validateConfig, type ValidateConfigOptions } from './validate-config.js';
export { validateS3Access, s3KeyProblem, assertS3Prefix, type S3AccessOptions } from './s3.js';
export { checkConfigFile, issueLines, type CheckConfigFileOptions } from './check-file.js';
export { loadConfigFile, loadConfig, type LoadedConfig, type LoadConfigFileOptions } from './load.js';
export { didYouMean } from './suggest.js';
