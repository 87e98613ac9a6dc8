/** elastic-harness/metrics: what a run did, how long its checkpoints and recoveries took, and how much time was training. */
export { TrainingMetrics, type TrainingMetricsOptions, type TrainingMetricsJSON, type MetricsSummary, type TierSummary, type SummaryLogger } from './training-metrics.js';
export { CheckpointMetrics, type CheckpointMetricsJSON, type OperationStats, type RecordSaveOptions } from './checkpoint-metrics.js';
export { RecoveryMetrics, type RecoveryEvent, type RecoveryKind, type RecordRecoveryOptions } from './recovery-metrics.js';
export { GradientMetrics, type GradientMetricsJSON } from './gradient-metrics.js';
export { LRMetrics, type LRAdjustment } from './lr-metrics.js';
export { systemClock, type Clock } from './checks.js';
