/**
 * The elastic agent (torchrun's counterpart): joins a rendezvous round, starts this node's workers with
 * the environment contract, watches them, and on a failure stops the group, counts the restart in the
 * store (per job), re-joins and starts again with the new world; it also restarts for a node that left
 * (stale round) or nodes waiting to join (scale-up), forwards signals, and ends with a root-cause report.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { DistributedSetupError, ElasticTrainingError, describeError } from '../errors/index.js';
import { StaticRendezvous, type AgentRendezvous, type RoundInfo } from './agent-rendezvous.js';
import { parseStreamSelect, type ElasticTrainingConfig } from './config.js';
import { captureDiagnosticReport } from './diagnostics.js';
import { EH_ENV } from '../env/index.js';
import { readErrorFile } from './error-file.js';
import { formatFailureReport, type FailureReason, type FailureRecord } from './failure-report.js';
import { isNodeScript } from './launch-command.js';
import { MemoryHolder } from './memory-holder.js';
import { StandbyPool } from './standby-pool.js';
import { isLocalHost, setupStore, type AgentStore } from './store-setup.js';
import { WorkerGroup, type WorkerLaunch } from './worker-group.js';
import type { WorkerProcess } from './worker-process.js';

/** How long the agent hosting the store waits, at most, for the other nodes to finish after its own workers did. */
const EXIT_BARRIER_MS = 300_000;

export interface AgentOptions {
  config: ElasticTrainingConfig;
  script: string;
  scriptArgs?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Agent log lines (default: stderr with an `[eh agent]` prefix). */
  log?: (line: string) => void;
  /** Make the rendezvous for a multi-node job (default: the rendezvous part's handler). */
  createRendezvous?: (store: AgentStore, o: RendezvousFactoryOptions) => Promise<AgentRendezvous> | AgentRendezvous;
  /** Install SIGTERM/SIGINT/SIGUSR1/SIGUSR2 handlers that forward to the workers (default true). */
  handleSignals?: boolean;
}

export interface RendezvousFactoryOptions {
  config: ElasticTrainingConfig;
  nodeId: string;
  addr: string;
}

export interface AgentResult {
  exitCode: number;
  /** Worker groups started by this agent. */
  attempts: number;
  /** The job's restart count when the agent ended. */
  restarts: number;
  rootCause: FailureRecord | undefined;
  report: string | undefined;
  logDir: string;
}

type Outcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; worker: WorkerProcess; reason: FailureReason }
  | { kind: 'stale' }
  | { kind: 'scale-up'; waiting: number }
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'store-lost'; error: unknown };

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2'];

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: host === '' ? '0.0.0.0' : host, port: 0 }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class ElasticAgent {
  readonly nodeId: string;
  private readonly config: ElasticTrainingConfig;
  private readonly env: NodeJS.ProcessEnv;
  private readonly cwd: string;
  private readonly script: string;
  private readonly scriptArgs: string[];
  private readonly log: (line: string) => void;
  private signalled: NodeJS.Signals | undefined;
  private onSignal: ((s: NodeJS.Signals) => void) | undefined;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private group: WorkerGroup | undefined;
  private standby: StandbyPool | undefined;
  private attempts = 0;
  /** Nodes in the last round this agent joined: how many the store's host waits for at the end. */
  private lastNodeCount = 1;
  private store: AgentStore | undefined;
  /** Survives every restart of this node's workers. */
  readonly memory: MemoryHolder;

  constructor(private readonly options: AgentOptions) {
    this.config = options.config;
    this.env = options.env ?? process.env;
    this.cwd = options.cwd ?? process.cwd();
    this.script = options.script;
    this.scriptArgs = options.scriptArgs ?? [];
    this.nodeId = `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    this.log = options.log ?? ((line) => process.stderr.write(`[eh agent] ${line}\n`));
    this.memory = new MemoryHolder(Math.floor(this.config.memoryLimitMb * 1024 * 1024));
  }

  private nodeAddr(): string {
    if (this.config.localAddr !== undefined) return this.config.localAddr;
    if (this.config.singleNode) return '127.0.0.1';
    const host = this.config.rdzvEndpoint.replace(/:\d+$/, '').replace(/^https?:\/\//, '').replace(/^\[|\]$/g, '');
    return isLocalHost(host) && (host.startsWith('127.') || host === 'localhost' || host === '::1') ? '127.0.0.1' : os.hostname();
  }

  async run(): Promise<AgentResult> {
    const logDir = this.config.logDir !== undefined ? resolve(this.cwd, this.config.logDir) : mkdtempSync(join(os.tmpdir(), `eh-${this.config.rdzvId}-`));
    mkdirSync(logDir, { recursive: true });
    if (this.options.handleSignals !== false) this.installSignals();
    let agentStore: AgentStore | undefined;
    let rdzv: AgentRendezvous | undefined;
    try {
      agentStore = await setupStore(this.config, this.env);
      this.store = agentStore;
      rdzv = await this.makeRendezvous(agentStore);
      const res = await this.loop(agentStore, rdzv, logDir);
      await this.exitBarrier(agentStore, rdzv, res.exitCode === 0);
      return res;
    } catch (err) {
      const report = formatFailureReport(undefined, { headline: `FAILED: ${describeError(err)}`, attempts: this.attempts, restarts: 0, maxRestarts: this.config.maxRestarts, logDir });
      if (!(err instanceof ElasticTrainingError)) this.log(err instanceof Error ? (err.stack ?? err.message) : String(err));
      return { exitCode: err instanceof ElasticTrainingError && err.name === 'ConfigurationError' ? 2 : 1, attempts: this.attempts, restarts: 0, rootCause: undefined, report, logDir };
    } finally {
      this.standby?.close();
      if (this.group !== undefined) await this.group.stop('SIGKILL', 0);
      this.removeSignals();
      await rdzv?.shutdown().catch(() => undefined);
      await agentStore?.close().catch(() => undefined);
    }
  }

  /**
   * Every agent counts itself finished in the store. The agent hosting the TCP store, having succeeded, then
   * waits for the other nodes of its last round to finish too: leaving at once would take the store away from
   * workers still completing their last steps. It stops waiting when they are done, when one of them stops
   * keeping alive (it died; nothing to wait for), or after EXIT_BARRIER_MS. A failed job does not wait.
   */
  private async exitBarrier(s: AgentStore, rdzv: AgentRendezvous, succeeded: boolean): Promise<void> {
    const key = this.runKey('nodes-finished');
    await s.store.add(key, 1).catch(() => undefined);
    if (!s.hosting || !succeeded || this.lastNodeCount <= 1) return;
    const end = Date.now() + EXIT_BARRIER_MS;
    let logged = false;
    while (Date.now() < end && this.signalled === undefined) {
      const done = Number((await s.store.get(key).catch(() => undefined)) ?? '0');
      if (done >= this.lastNodeCount) return;
      if (await rdzv.isRoundStale().catch(() => true)) return;
      if (!logged) {
        this.log(`hosting the store: waiting for ${this.lastNodeCount - done} other node(s) to finish`);
        logged = true;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async makeRendezvous(s: AgentStore): Promise<AgentRendezvous> {
    const addr = this.nodeAddr();
    const c = this.config;
    if (c.singleNode || c.rdzvBackend === 'static') {
      const nodeRank = c.singleNode ? 0 : c.nodeRank;
      if (nodeRank === undefined) throw new DistributedSetupError('--rdzv-backend static needs --node-rank for every node');
      return new StaticRendezvous(s.store, { runId: c.rdzvId, nodeCount: c.minNodes, nodeRank, nodeId: this.nodeId, addr, joinTimeoutMs: c.rdzvConf.joinTimeout * 1000 });
    }
    if (this.options.createRendezvous !== undefined) return this.options.createRendezvous(s, { config: c, nodeId: this.nodeId, addr });
    const { createDynamicRendezvous } = await import('./dynamic-rendezvous.js');
    return createDynamicRendezvous(s, { config: c, nodeId: this.nodeId, addr });
  }

  private async loop(s: AgentStore, rdzv: AgentRendezvous, logDir: string): Promise<AgentResult> {
    const c = this.config;
    const useStandby = !c.noNode && isNodeScript(this.script) && c.standbyWorkers > 0;
    if (useStandby) {
      this.standby = new StandbyPool({ script: this.script, size: c.standbyWorkers, preload: c.preload, nodeArgs: c.nodeArgs, cwd: this.cwd, env: this.env, warn: this.log });
    }
    const output = (lr: number): { consoleStdout: boolean; consoleStderr: boolean } => {
      const red = parseStreamSelect(c.redirects, '--redirects')(lr);
      return { consoleStdout: !red.stdout, consoleStderr: !red.stderr };
    };
    const result = (exitCode: number, restarts: number, rootCause: FailureRecord | undefined, headline?: string): AgentResult => {
      const report = headline === undefined ? undefined : formatFailureReport(rootCause, { headline, attempts: this.attempts, restarts, maxRestarts: c.maxRestarts, logDir });
      return { exitCode, attempts: this.attempts, restarts, rootCause, report, logDir };
    };
    const runKey = (k: string): string => this.runKey(k);
    const firstFailure = async (): Promise<FailureRecord | undefined> => {
      const raw = await s.store.get(runKey('first-failure')).catch(() => undefined);
      return raw === undefined ? undefined : (JSON.parse(raw) as FailureRecord);
    };

    while (true) {
      if (this.signalled !== undefined) return result(128 + (os.constants.signals[this.signalled] ?? 15), await rdzv.getRestartCount().catch(() => 0), undefined, `stopped by ${this.signalled}`);
      let info: RoundInfo;
      try {
        info = await this.interruptible(rdzv.nextRendezvous({ localWorldSize: c.nprocPerNode }));
      } catch (err) {
        if (this.signalled !== undefined) continue;
        const outcome = await s.store.get(runKey('outcome')).catch(() => undefined);
        if (outcome === 'succeeded') {
          this.log('the job has already finished; nothing to do');
          return result(0, 0, undefined);
        }
        const root = await firstFailure();
        return result(1, await rdzv.getRestartCount().catch(() => 0), root, `FAILED: ${describeError(err)}`);
      }
      this.lastNodeCount = info.nodeCount;
      const restartCount = await rdzv.getRestartCount();
      const { masterAddr, masterPort } = await this.agreeMaster(s, info);
      const launches = this.launches(info, restartCount, masterAddr, masterPort, s, logDir);
      const attemptDir = join(logDir, `attempt_${this.attempts}`);
      this.log(`round ${info.round}: node rank ${info.nodeRank} of ${info.nodeCount}, ranks ${launches[0]?.rank}..${launches[launches.length - 1]?.rank} of ${launches[0]?.env.WORLD_SIZE}, restart count ${restartCount}`);
      const group = new WorkerGroup({ script: this.script, scriptArgs: this.scriptArgs, noNode: c.noNode, cwd: this.cwd, nodeArgs: c.nodeArgs, attemptDir, output }, this.standby, this.memory);
      this.group = group;
      const attempt = this.attempts;
      this.attempts += 1;
      group.start(launches);
      // Standbys are (re)filled once the workers run, so that starting them never slows a recovery.
      if (this.standby !== undefined) {
        const pool = this.standby;
        setTimeout(() => pool.fill(), 1000).unref();
      }
      const outcome = await this.monitor(group, info, rdzv);

      if (outcome.kind === 'succeeded') {
        // A worker's last lines may still be in its pipes when its exit event fires: keep them.
        await Promise.all(group.workers.map((w) => w.drained()));
        this.log(`all ${group.workers.length} local workers succeeded`);
        await s.store.set(runKey('outcome'), 'succeeded').catch(() => undefined);
        await rdzv.setClosed().catch(() => undefined);
        this.group = undefined;
        return result(0, restartCount, undefined);
      }
      if (outcome.kind === 'signal') {
        this.log(`got ${outcome.signal}: forwarding it to the workers, SIGKILL after ${c.gracePeriod} s`);
        await group.stop(outcome.signal, c.gracePeriod * 1000);
        this.group = undefined;
        continue;
      }
      if (outcome.kind === 'store-lost') {
        await group.stop('SIGTERM', c.gracePeriod * 1000);
        this.group = undefined;
        return result(1, restartCount, undefined, `FAILED: lost the store: ${describeError(outcome.error)}`);
      }
      if (outcome.kind === 'stale' || outcome.kind === 'scale-up') {
        this.log(outcome.kind === 'stale' ? 'the rendezvous moved on (a node left or restarted): restarting the workers in a new round' : `${outcome.waiting} node(s) waiting to join: restarting the workers in a larger round`);
        await group.stop('SIGTERM', c.gracePeriod * 1000);
        this.group = undefined;
        continue;
      }

      // A worker failed.
      const w = outcome.worker;
      let reportPath: string | undefined;
      if (outcome.reason === 'hang') {
        this.log(`rank ${w.rank} sent no heartbeat for ${c.heartbeatTimeout} s: taking a diagnostic report, then restarting`);
        reportPath = await captureDiagnosticReport(w, join(w.dir, 'diagnostic-report.json'), 3000);
        w.kill('SIGKILL');
      }
      const stopping = group.stop('SIGTERM', c.gracePeriod * 1000);
      const record: FailureRecord = {
        reason: outcome.reason,
        rank: w.rank,
        localRank: w.localRank,
        nodeId: this.nodeId,
        nodeRank: info.nodeRank,
        round: info.round,
        attempt,
        exitCode: w.exit?.code ?? null,
        signal: w.exit?.signal ?? null,
        time: new Date(w.exit?.at ?? Date.now()).toISOString(),
        errorFile: w.errorFile,
        error: undefined,
        stderrTail: [],
        reportPath,
        startupMessage: w.startupError?.message,
      };
      await stopping;
      this.group = undefined;
      await w.drained();
      record.error = readErrorFile(w.errorFile);
      record.stderrTail = [...w.stderrTail];
      this.log(`rank ${w.rank} ${outcome.reason === 'hang' ? 'hung' : w.describeExit()}${record.error !== undefined ? `: ${record.error.name}: ${record.error.message}` : ''}`);
      await s.store.compareAndSet(runKey('first-failure'), undefined, JSON.stringify(record)).catch(() => undefined);

      if (outcome.reason === 'startup' && !c.retryStartupFailures) {
        await s.store.set(runKey('outcome'), 'failed').catch(() => undefined);
        await rdzv.setClosed().catch(() => undefined);
        return result(1, restartCount, (await firstFailure()) ?? record, `FAILED at start-up: rank ${w.rank} could not start (not retried; pass --retry-startup-failures to retry)`);
      }
      // One restart per failed round, whichever agent claims it, so a failure that brings down every
      // node's workers is counted once, and a node re-joining under a new id still counts.
      const claimed = await s.store.compareAndSet(`${info.storePrefix}/eh/failure-claimed`, undefined, this.nodeId).catch(() => ({ ok: false }));
      const count = claimed.ok ? await rdzv.incrementRestartCount() : await rdzv.getRestartCount();
      if (count > c.maxRestarts) {
        await s.store.set(runKey('outcome'), 'failed').catch(() => undefined);
        await rdzv.setClosed().catch(() => undefined);
        return result(1, count, (await firstFailure()) ?? record, `FAILED after ${this.attempts} attempt(s): the job exceeded --max-restarts ${c.maxRestarts}`);
      }
      this.log(`restart ${count} of ${c.maxRestarts}`);
    }
  }

  private runKey(k: string): string {
    return `${this.config.rdzvId}/eh/${k}`;
  }

  /** 'succeeded' or 'failed' once some agent has ended the job. */
  private async jobOutcome(): Promise<string | undefined> {
    return this.store?.store.get(this.runKey('outcome')).catch(() => undefined);
  }

  /** Rank 0's node picks MASTER_PORT (kept free for a PyTorch rank 0's own store) and publishes it for the round. */
  private async agreeMaster(s: AgentStore, info: RoundInfo): Promise<{ masterAddr: string; masterPort: number }> {
    const key = `${info.storePrefix}/eh/master`;
    const rank0 = info.participants.find((p) => p.rank === 0) ?? info.participants[0];
    if (info.nodeRank === 0) {
      const port = await freePort(rank0.addr);
      const value = JSON.stringify({ addr: rank0.addr, port });
      if (info.nodeCount > 1) await s.store.set(key, value);
      return { masterAddr: rank0.addr, masterPort: port };
    }
    await this.interruptible(s.store.wait([key], this.config.rdzvConf.joinTimeout * 1000));
    const v = JSON.parse((await s.store.get(key)) ?? '{}') as { addr: string; port: number };
    return { masterAddr: v.addr, masterPort: v.port };
  }

  private launches(info: RoundInfo, restartCount: number, masterAddr: string, masterPort: number, s: AgentStore, logDir: string): WorkerLaunch[] {
    const c = this.config;
    const sizes = [...info.participants].sort((a, b) => a.rank - b.rank).map((p) => p.localWorldSize ?? c.nprocPerNode);
    const worldSize = sizes.reduce((a, b) => a + b, 0);
    const base = sizes.slice(0, info.nodeRank).reduce((a, b) => a + b, 0);
    const nodeWorker = !c.noNode && isNodeScript(this.script);
    const out: WorkerLaunch[] = [];
    for (let lr = 0; lr < c.nprocPerNode; lr++) {
      const rank = base + lr;
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(this.env)) if (v !== undefined) env[k] = v;
      Object.assign(env, {
        RANK: String(rank),
        LOCAL_RANK: String(lr),
        WORLD_SIZE: String(worldSize),
        LOCAL_WORLD_SIZE: String(c.nprocPerNode),
        GROUP_RANK: String(info.nodeRank),
        GROUP_WORLD_SIZE: String(info.nodeCount),
        ROLE_RANK: String(rank),
        ROLE_WORLD_SIZE: String(worldSize),
        ROLE_NAME: c.role,
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        TORCHELASTIC_RESTART_COUNT: String(restartCount),
        TORCHELASTIC_MAX_RESTARTS: String(c.maxRestarts),
        TORCHELASTIC_RUN_ID: c.rdzvId,
        [EH_ENV.STORE_BACKEND]: s.backend,
        [EH_ENV.STORE_ENDPOINT]: s.endpoint,
        [EH_ENV.TOKEN]: s.token,
        [EH_ENV.STORE_PREFIX]: `${info.storePrefix}/workers`,
        // Only Node workers (run through the bootstrap) talk to the agent; others are watched by exit alone.
        [EH_ENV.AGENT_IPC]: nodeWorker ? '1' : '0',
        [EH_ENV.HEARTBEAT_INTERVAL_MS]: nodeWorker ? String(Math.round(c.heartbeatInterval * 1000)) : '0',
        [EH_ENV.HEARTBEAT_MODE]: this.env[EH_ENV.HEARTBEAT_MODE] === 'manual' ? 'manual' : 'auto',
        [EH_ENV.LOG_DIR]: join(logDir, `attempt_${this.attempts}`, String(rank)),
        [EH_ENV.HOST_ID]: os.hostname(),
        [EH_ENV.RDZV_ROUND]: String(info.round),
        [EH_ENV.NODE_ID]: this.nodeId,
      });
      // TORCHELASTIC_ERROR_FILE is set by the worker group, per worker directory.
      out.push({ rank, localRank: lr, env });
    }
    return out;
  }

  private monitor(group: WorkerGroup, info: RoundInfo, rdzv: AgentRendezvous): Promise<Outcome> {
    const c = this.config;
    const multiNode = !c.singleNode;
    return new Promise<Outcome>((resolveOutcome) => {
      let done = false;
      let polling = false;
      let multiNodeDone = false;
      const finish = (o: Outcome): void => {
        if (done) return;
        done = true;
        clearInterval(tick);
        this.onSignal = undefined;
        resolveOutcome(o);
      };
      for (const w of group.workers) {
        // Acted on at the exit event itself, not at the next monitoring tick.
        w.onExit(() => {
          if (w.failed) finish({ kind: 'failed', worker: w, reason: failureReason(w) });
          else if (group.workers.every((x) => x.exit !== undefined && !x.failed)) finish({ kind: 'succeeded' });
        });
      }
      this.onSignal = (sig) => finish({ kind: 'signal', signal: sig });
      if (this.signalled !== undefined) finish({ kind: 'signal', signal: this.signalled });
      const timeoutMs = c.heartbeatTimeout * 1000;
      const tick = setInterval(() => {
        const now = Date.now();
        for (const w of group.workers) {
          if (w.running && w.heartbeats > 0 && c.heartbeatInterval > 0 && w.lastBeat !== undefined && now - w.lastBeat > timeoutMs) {
            finish({ kind: 'failed', worker: w, reason: 'hang' });
            return;
          }
        }
        if (!multiNode || polling || multiNodeDone) return;
        polling = true;
        Promise.all([rdzv.isRoundStale(), rdzv.numNodesWaiting()])
          .then(async ([stale, waiting]) => {
            if (stale) {
              // A node whose workers all finished leaves the round; that is no reason to stop ours,
              // which are finishing too.
              if ((await rdzv.isClosed().catch(() => false)) && (await this.jobOutcome()) === 'succeeded') {
                multiNodeDone = true;
                return;
              }
              finish({ kind: 'stale' });
            }
            else if (waiting > 0 && info.nodeCount < c.maxNodes) finish({ kind: 'scale-up', waiting });
          })
          .catch((err: unknown) => finish({ kind: 'store-lost', error: err }))
          .finally(() => {
            polling = false;
          });
      }, Math.max(10, c.monitorInterval * 1000));
    });
  }

  /** Resolve with `p`, or reject as soon as a stop signal arrives. */
  private interruptible<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((res, rej) => {
      if (this.signalled !== undefined) {
        rej(new DistributedSetupError(`interrupted by ${this.signalled}`));
        return;
      }
      this.onSignal = (sig) => rej(new DistributedSetupError(`interrupted by ${sig}`));
      p.then(res, rej).finally(() => {
        this.onSignal = undefined;
      });
    });
  }

  private installSignals(): void {
    for (const sig of FORWARDED) {
      const h = (): void => {
        if (this.signalled !== undefined) {
          // A second signal: no more grace.
          this.group?.stop('SIGKILL', 0).catch(() => undefined);
          return;
        }
        this.signalled = sig;
        this.onSignal?.(sig);
      };
      this.signalHandlers.set(sig, h);
      process.on(sig, h);
    }
  }

  private removeSignals(): void {
    for (const [sig, h] of this.signalHandlers) process.off(sig, h);
    this.signalHandlers.clear();
  }
}

/**
 * Why a worker failed. A start-up failure is the script's own fault (bad path, syntax error, failed import:
 * reported by the bootstrap, or a non-zero exit before the worker counted as started) and is not retried.
 * A death by signal is never one: something outside killed the worker (the OOM killer, a user, a
 * preemption), however early, and a restart is the right answer.
 */
function failureReason(w: WorkerProcess): FailureReason {
  if (w.startupError !== undefined) return 'startup';
  if (w.exit?.signal !== null && w.exit?.signal !== undefined) return 'signal';
  return w.started ? 'exit' : 'startup';
}
