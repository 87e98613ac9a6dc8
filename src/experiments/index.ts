/**
 * elastic-harness/experiments: the experiment config (schema, loading, saving), parameter grids of every kind
 * (plain, linked, conditional, sampled, computed, constraints and exclusions; lazy, exactly counted), sweeps over
 * a base config, and experiment naming.
 */
export {
  ExperimentConfigSchema,
  ModelConfigSchema,
  TrainingConfigSchema as ExperimentTrainingSchema,
  DataConfigSchema,
  OptimizerConfigSchema,
  SLURMConfigSchema,
  LoggingConfigSchema,
  ExperimentCheckpointSchema,
  EXPERIMENT_NAME,
  SLURM_TIME,
  type ExperimentConfig,
  type ExperimentConfigInput,
  type SLURMConfig,
} from './schema.js';
export { ValidationError, type ValidationErrorOptions } from './errors.js';
export { validateExperimentConfig } from './validate.js';
export { ConfigurationManager, type ConfigurationManagerOptions, type ConfigFormat } from './config-manager.js';
export { ParameterGrid, type Match, type ComputeFn, type ConstraintFn } from './grid.js';
export { gridFromSpec } from './grid-spec.js';
export { drawSample, type Distribution } from './sampling.js';
export type { ComputedSpec, ConstraintSpec, ConstraintOp } from './rules.js';
export { ParameterGridSearch, type GeneratedExperiment } from './grid-search.js';
export {
  NamingStrategy,
  NAMING_STRATEGIES,
  MAX_NAME_LENGTH,
  ABBREVIATIONS,
  ExperimentNamer,
  parameterBasedName,
  hashBasedName,
  timestampBasedName,
  formatValue,
  sanitizeName,
} from './naming.js';
export { loadSweepFile, type SweepFile } from './sweep-file.js';
export { canonicalJson, hash8, type ParamValue, type ParameterSet } from './values.js';
