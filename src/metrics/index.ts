/** elastic-harness/metrics: what a run did, how long its checkpoints and recoveries took, and how much time was training. */
export { TrainingMetrics, type TrainingMetricsOptions, type TrainingMetricsJSON, type MetricsSummary, type TierSummary, type SummaryLogger } from './training-metrics.js';
export { CheckpointMetrics, type CheckpointMetricsJSON, type OperationStats, type RecordSaveOptions } from './checkpoint-metrics.js';
export { RecoveryMetrics, type RecoveryEvent, type RecoveryKind, type RecordRecoveryOptions } from './recovery-metrics.js';
export { GradientMetrics, type GradientMetricsJSON } from './gradient-metrics.js';
export { LRMetrics, type LRAdjustment } from './lr-metrics.js';
export { systemClock, type Clock } from './checks.js';
export { JobMonitor, type JobMonitorOptions, type JobSnapshot, type LiveMessage, type WorkerRow, type TierCheckpoint } from './live/monitor.js';
export { PrometheusExporter, METRIC_HELP, type MetricName } from './live/exporter.js';
export { JobLogFollower, readJobLog, listLoggedJobs } from './live/log-reader.js';
export { workerFiguresSchema, parseWorkerFigures, type WorkerFigures, type CheckpointFigure } from './live/figures.js';
export { jobFileStem, EVENTS_SUFFIX, STEPS_SUFFIX, type JobEvent, type JobEventBody, type JobEventType, type StepRecord, type WorkerState } from './live/events.js';
export { MonitorServer, type MonitorServerOptions } from './dashboard/server.js';
export { formatJobStatus } from './live/status.js';
