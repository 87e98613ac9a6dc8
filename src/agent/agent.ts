/**
 * The elastic agent (torchrun's counterpart), one per node: sets up the store and the rendezvous, runs
 * the restart loop (restart-loop.ts) over this node's workers (local-workers.ts), waits at the exit
 * barrier (exit-barrier.ts), forwards stop signals (agent-signals.ts), and ends with a root-cause report.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { sweepStaleSockets } from '../collective/index.js';
import { ElasticTrainingError, describeError } from '../errors/index.js';
import type { AgentRendezvous } from './agent-rendezvous.js';
import { AgentSignals, signalExitCode } from './agent-signals.js';
import type { ElasticTrainingConfig } from './config.js';
import { exitBarrier } from './exit-barrier.js';
import { formatFailureReport } from './failure-report.js';
import { JobRecord } from './job-record.js';
import { MemoryHolder } from './memory-holder.js';
import { runRestartLoop, type AgentResult, type AgentState } from './restart-loop.js';
import { makeRendezvous, type RendezvousFactory } from './round-setup.js';
import { setupStore, type AgentStore } from './store-setup.js';
import { startAgentMonitor, type AgentMonitorOptions } from './agent-monitor.js';

export type { AgentResult } from './restart-loop.js';
export type { RendezvousFactoryOptions } from './round-setup.js';

export interface AgentOptions {
  config: ElasticTrainingConfig;
  script: string;
  scriptArgs?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Agent log lines (default: stderr with an `[eh agent]` prefix). */
  log?: (line: string) => void;
  /** Make the rendezvous for a multi-node job (default: the rendezvous part's handler). */
  createRendezvous?: RendezvousFactory;
  /** Install SIGTERM/SIGINT/SIGUSR1/SIGUSR2 handlers that forward to the workers (default true). */
  handleSignals?: boolean;
  /** Serve `/metrics` and/or the dashboard while the job runs (events and steps are logged either way). */
  monitor?: AgentMonitorOptions;
}

export class ElasticAgent {
  readonly nodeId: string;
  /** Survives every restart of this node's workers. */
  readonly memory: MemoryHolder;
  private readonly config: ElasticTrainingConfig;
  private readonly log: (line: string) => void;
  private readonly state: AgentState = { group: undefined, standby: undefined, attempts: 0, lastNodeCount: 1, restarts: 0 };
  private readonly signals: AgentSignals;

  constructor(private readonly options: AgentOptions) {
    this.config = options.config;
    this.nodeId = `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    this.log = options.log ?? ((line) => process.stderr.write(`[eh agent] ${line}\n`));
    this.memory = new MemoryHolder(Math.floor(this.config.memoryLimitMb * 1024 * 1024));
    // A second signal: no more grace.
    this.signals = new AgentSignals(() => {
      this.state.group?.stop('SIGKILL', 0).catch(() => undefined);
    });
  }

  async run(): Promise<AgentResult> {
    const cwd = this.options.cwd ?? process.cwd();
    const env = this.options.env ?? process.env;
    const logDir = this.config.logDir !== undefined ? resolve(cwd, this.config.logDir) : mkdtempSync(join(os.tmpdir(), `eh-${this.config.rdzvId}-`));
    mkdirSync(logDir, { recursive: true });
    if (this.options.handleSignals !== false) this.signals.install();
    let store: AgentStore | undefined;
    let rdzv: AgentRendezvous | undefined;
    let monitor: Awaited<ReturnType<typeof startAgentMonitor>> | undefined;
    try {
      // Reaching a store that is not up (yet) may take the whole join timeout: a signal ends it at once.
      const abort = new AbortController();
      if (!this.config.singleNode) this.log(`reaching the ${this.config.rdzvBackend} store at ${this.config.rdzvEndpoint} (for up to ${this.config.rdzvConf.joinTimeout} s)`);
      const pending = setupStore(this.config, env, abort.signal);
      store = await this.signals.interruptible(pending, (why) => {
        abort.abort(why);
        pending.then((late) => late.close(), () => undefined).catch(() => undefined);
      });
      rdzv = await this.signals.interruptible(Promise.resolve(makeRendezvous(store, this.config, this.nodeId, this.options.createRendezvous)));
      const job = new JobRecord(store.store, this.config.rdzvId);
      monitor = await startAgentMonitor({ ...this.options.monitor, job: this.config.rdzvId, node: this.nodeId, logDir, config: this.config, log: this.log });
      const res = await runRestartLoop({
        monitor: monitor.monitor,
        config: this.config,
        script: this.options.script,
        scriptArgs: this.options.scriptArgs ?? [],
        cwd,
        env,
        nodeId: this.nodeId,
        log: this.log,
        memory: this.memory,
        signals: this.signals,
        store,
        rdzv,
        job,
        logDir,
        state: this.state,
      });
      monitor.ended(res.exitCode, this.signals.signalled !== undefined);
      await exitBarrier({ store, rdzv, job, signals: this.signals, succeeded: res.exitCode === 0, nodeCount: this.state.lastNodeCount, log: this.log });
      return res;
    } catch (err) {
      const sig = this.signals.signalled;
      if (sig !== undefined) {
        const report = formatFailureReport(undefined, { headline: `stopped by ${sig}`, attempts: this.state.attempts, restarts: this.state.restarts, maxRestarts: this.config.maxRestarts, logDir });
        return { exitCode: signalExitCode(sig), attempts: this.state.attempts, restarts: this.state.restarts, rootCause: undefined, report, logDir };
      }
      const report = formatFailureReport(undefined, { headline: `FAILED: ${describeError(err)}`, attempts: this.state.attempts, restarts: this.state.restarts, maxRestarts: this.config.maxRestarts, logDir });
      if (!(err instanceof ElasticTrainingError)) this.log(err instanceof Error ? (err.stack ?? err.message) : String(err));
      return { exitCode: err instanceof ElasticTrainingError && err.name === 'ConfigurationError' ? 2 : 1, attempts: this.state.attempts, restarts: this.state.restarts, rootCause: undefined, report, logDir };
    } finally {
      this.state.standby?.close();
      if (this.state.group !== undefined) await this.state.group.stop('SIGKILL', 0);
      // Workers stopped by a signal ran no exit handler: their Unix socket files would stay in the temp directory.
      sweepStaleSockets(env.TMPDIR || os.tmpdir());
      this.signals.remove();
      await monitor?.close();
      await rdzv?.shutdown().catch(() => undefined);
      await store?.close().catch(() => undefined);
    }
  }
}
