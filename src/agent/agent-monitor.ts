/**
 * The agent's side of observability: a JobMonitor fed by the restart loop and the workers' reports,
 * logged to the job's log dir, and served as Prometheus `/metrics` and/or the dashboard when asked.
 */
import { REQUEUE_EXIT_CODE } from '../env/index.js';
import { ConfigurationError, describeError } from '../errors/index.js';
import { JobMonitor, MonitorServer, PrometheusExporter } from '../metrics/index.js';
import type { ElasticTrainingConfig } from './config.js';

export interface AgentMonitorOptions {
  /** Serve `/metrics` on this port (0: a free one, printed). Off when absent. */
  metricsPort?: number;
  /** Serve the dashboard on this port (0: a free one, printed). Off when absent. */
  dashboardPort?: number;
  /** Address both servers bind to (default 127.0.0.1). */
  host?: string;
}

export interface AgentMonitor {
  monitor: JobMonitor;
  metricsUrl: string | undefined;
  dashboardUrl: string | undefined;
  ended(exitCode: number, signalled: boolean): void;
  close(): Promise<void>;
}

export async function startAgentMonitor(o: AgentMonitorOptions & { job: string; node: string; logDir: string; config: ElasticTrainingConfig; log: (line: string) => void }): Promise<AgentMonitor> {
  const monitor = new JobMonitor({ job: o.job, node: o.node, logDir: o.logDir });
  const c = o.config;
  monitor.record({ type: 'job-start', maxRestarts: c.maxRestarts, nprocPerNode: c.nprocPerNode, nnodes: c.minNodes === c.maxNodes ? String(c.minNodes) : `${c.minNodes}:${c.maxNodes}` });
  const servers: MonitorServer[] = [];
  let exporter: PrometheusExporter | undefined;
  let metricsUrl: string | undefined;
  let dashboardUrl: string | undefined;
  try {
    if (o.metricsPort !== undefined && o.metricsPort === o.dashboardPort) {
      exporter = new PrometheusExporter(monitor);
      const s = new MonitorServer({ monitor, exporter, dashboard: true, host: o.host, port: o.metricsPort });
      servers.push(s);
      const { url } = await s.start();
      metricsUrl = `${url}metrics`;
      dashboardUrl = url;
    } else {
      if (o.metricsPort !== undefined) {
        exporter = new PrometheusExporter(monitor);
        const s = new MonitorServer({ monitor, exporter, host: o.host, port: o.metricsPort });
        servers.push(s);
        metricsUrl = `${(await s.start()).url}metrics`;
      }
      if (o.dashboardPort !== undefined) {
        const s = new MonitorServer({ monitor, dashboard: true, host: o.host, port: o.dashboardPort });
        servers.push(s);
        dashboardUrl = (await s.start()).url;
      }
    }
  } catch (err) {
    for (const s of servers) await s.close();
    monitor.close();
    throw new ConfigurationError(`could not serve the metrics or the dashboard: ${describeError(err)}`, {
      configKey: o.metricsPort !== undefined ? 'metrics-port' : 'dashboard-port',
      suggestions: ['Pick a free port, or 0 for any free one (its address is printed).'],
    });
  }
  if (metricsUrl !== undefined) o.log(`metrics: ${metricsUrl}`);
  if (dashboardUrl !== undefined) o.log(`dashboard: ${dashboardUrl}`);
  return {
    monitor,
    metricsUrl,
    dashboardUrl,
    ended: (exitCode, signalled) => {
      monitor.record({ type: 'job-end', outcome: exitCode === 0 ? 'succeeded' : exitCode === REQUEUE_EXIT_CODE ? 'preempted' : signalled ? 'interrupted' : 'failed', exitCode });
    },
    close: async () => {
      for (const s of servers) await s.close();
      exporter?.close();
      monitor.close();
    },
  };
}
