import type { WorkerFigures } from '../metrics/index.js';
import { isUnderAgent, reportProgress } from './heartbeat.js';

/**
 * Tell this worker's agent how training goes (step, loss, learning rate, throughput, checkpoints, the
 * tier a restart resumed from): it feeds the agent's `/metrics`, the job's event log and the dashboard.
 * Counters (`samples`, `tokens`) are increments since the previous call. Outside `eh run` it does nothing.
 * A report with a step also counts as progress for hang detection.
 */
export function reportMetrics(figures: WorkerFigures): void {
  if (!isUnderAgent()) return;
  try {
    process.send?.({ eh: 'metrics', figures });
  } catch {
    // The agent is gone: the worker is about to be stopped, and its figures with it.
  }
  if (figures.step !== undefined) reportProgress(figures.step);
}
