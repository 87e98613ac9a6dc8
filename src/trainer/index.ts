/**
 * elastic-harness/trainer: GenericTrainer over several data loaders (sampling strategies, epoch-length
 * policies), gradient accumulation, checkpoints with mid-epoch resume, preemption, hooks, metrics and
 * logging (console, JSON lines, TensorBoard). No framework here: the model side is an interface, with
 * a TensorFlow.js adapter in elastic-harness/tfjs.
 */
export { GenericTrainer, type GenericTrainerOptions, type FitOptions, type StepFunction, type DistributedOptions } from './trainer.js';
export { SamplingStrategy, EpochLengthPolicy, AggregationStrategy, SAMPLING_STRATEGIES, EPOCH_LENGTH_POLICIES, AGGREGATION_STRATEGIES } from './enums.js';
export {
  GenericTrainerConfigSchema,
  MultiDataLoaderConfigSchema,
  TrainerCheckpointConfigSchema,
  LoggingConfigSchema,
  ValidationConfigSchema,
  FaultToleranceConfigSchema,
  PerformanceConfigSchema,
  HooksConfigSchema,
  parseTrainerConfig,
  parseMultiDataLoaderConfig,
  type GenericTrainerConfig,
  type GenericTrainerConfigInput,
  type MultiDataLoaderConfig,
  type MultiDataLoaderConfigInput,
  type TrainerCheckpointConfig,
  type LoggingConfig,
  type ValidationConfig,
  type FaultToleranceConfig,
  type PerformanceConfig,
  type HooksConfig,
} from './config.js';
export { buildEpochSchedule, countByLoader, type ScheduledStep, type ScheduleOptions } from './schedule.js';
export { apportion } from './apportion.js';
export { optimizerStepsPerEpoch, accumulationWindow, nextWindow } from './accumulation.js';
export { MetricsManager, type SumAcrossRanks } from './metrics-manager.js';
export { HookManager, type TrainerHooks, type HookName } from './hooks.js';
export { PreemptionHandler } from './preemption.js';
export { TrainerCheckpointer, type BestCheckpoint, type SavedCheckpoint } from './checkpointer.js';
export { formatFilename, checkFilenameTemplate } from './filename-template.js';
export { createDataLoader, type TrainerDataLoader } from './data-loader.js';
export { LoaderCursor, PASS_STRIDE, type LoaderCursorState } from './loader-cursor.js';
export type { StepOutput, TrainerModel, TrainerOptimizer } from './model.js';
export * from './logging/index.js';
export { TrainerError, PreemptionTimeoutError, CheckpointTimeoutError, ValidationError, ConfigurationError } from '../errors/index.js';
