/**
 * `eh status --log-dir DIR` and `eh dashboard --log-dir DIR`: a job's state from the files its agent
 * wrote (live while it runs, or after it ended).
 */
import type { Command } from 'commander';
import { describeError } from '../errors/index.js';
import { JobLogFollower, MonitorServer, formatJobStatus } from '../metrics/index.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port takes 0-65535, got ${JSON.stringify(value)}`);
  return n;
}

export function registerMonitorCommands(program: Command): void {
  program
    .command('status')
    .description("print a job's state: world size, workers, restarts, last checkpoint per tier, recent events")
    .requiredOption('--log-dir <dir>', 'the directory given to `eh run --log-dir`')
    .option('--job <id>', 'the job (its --rdzv-id); default: the newest in the directory')
    .option('--events <n>', 'recent events to show', '10')
    .action((o: { logDir: string; job?: string; events: string }) => {
      try {
        const follower = new JobLogFollower(o.logDir, o.job);
        process.stdout.write(formatJobStatus(follower.monitor.snapshot(), Math.max(0, Number(o.events) || 10)) + '\n');
      } catch (err) {
        process.stderr.write(`eh status: ${describeError(err)}\n`);
        process.exitCode = 2;
      }
    });

  program
    .command('dashboard')
    .description("serve a live page of a job's loss, throughput, world size, failures, restarts, checkpoints and workers")
    .requiredOption('--log-dir <dir>', 'the directory given to `eh run --log-dir`')
    .option('--job <id>', 'the job (its --rdzv-id); default: the newest in the directory')
    .option('--port <port>', 'port (0: a free one)', '8265')
    .option('--host <addr>', 'address to bind (the page shows the job to whoever reaches it)', '127.0.0.1')
    .action(async (o: { logDir: string; job?: string; port: string; host: string }) => {
      let server: MonitorServer;
      let follower: JobLogFollower;
      try {
        follower = new JobLogFollower(o.logDir, o.job);
        server = new MonitorServer({ monitor: follower.monitor, dashboard: true, host: o.host, port: port(o.port) });
        const { url } = await server.start();
        process.stdout.write(`dashboard of job ${follower.monitor.snapshot().job}: ${url}\n`);
      } catch (err) {
        process.stderr.write(`eh dashboard: ${describeError(err)}\n`);
        process.exit(2);
      }
      const timer = setInterval(() => follower.poll(), 500);
      const stop = (): void => {
        clearInterval(timer);
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
