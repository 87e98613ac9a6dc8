export { ElasticTrainingError, formatMessage, describeError, type ElasticErrorOptions } from './base.js';
export { ConfigurationError, type ConfigurationErrorOptions } from './configuration.js';
export {
  COMMON_ISSUES,
  DistributedSetupError,
  TopologyChangeError,
  DataLoadingError,
  type DistributedSetupErrorOptions,
  type TopologyChangeErrorOptions,
  type DataLoadingErrorOptions,
} from './distributed.js';
export {
  CheckpointError,
  CheckpointLoadError,
  CheckpointSaveError,
  CheckpointValidationError,
  type CheckpointErrorOptions,
  type CheckpointValidationErrorOptions,
} from './checkpoint.js';
export { check, problemOf, show, intAtLeast, numberAbove, nonEmptyString, oneOf, type ValueRule, type CheckOptions } from './checks.js';
export { ValidationError, type ValidationErrorOptions } from './validation.js';
export { TrainerError, CheckpointTimeoutError, PreemptionTimeoutError, type TrainerErrorOptions, type CheckpointTimeoutErrorOptions } from './trainer.js';
