/**
 * This node's workers for one round (torch's LocalElasticAgent): the environment each is started with,
 * watching them until the round ends one way or another, and the record of a failed one.
 */
import { join } from 'node:path';
import { EH_ENV, hostIdFrom } from '../env/index.js';
import { StoreUnavailableError } from '../rendezvous/index.js';
import type { AgentRendezvous, RoundInfo } from './agent-rendezvous.js';
import type { AgentSignals } from './agent-signals.js';
import type { ElasticTrainingConfig } from './config.js';
import type { FailureReason, FailureRecord } from './failure-report.js';
import type { AgentStore } from './store-setup.js';
import type { WorkerGroup, WorkerLaunch } from './worker-group.js';
import type { WorkerProcess } from './worker-process.js';

/** How a round of this node's workers ended. */
export type Outcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; worker: WorkerProcess; reason: FailureReason }
  | { kind: 'stale' }
  | { kind: 'scale-up'; waiting: number }
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'store-lost'; error: unknown }
  /** The store was unreachable for longer than the keep-alive window: the others have dropped this node. */
  | { kind: 'lapsed'; error: unknown; forMs: number };

export interface LaunchContext {
  config: ElasticTrainingConfig;
  /** The agent's own environment, which workers inherit. */
  env: NodeJS.ProcessEnv;
  nodeId: string;
  /** Node workers (run through the bootstrap) talk to the agent; others are watched by exit alone. */
  nodeWorker: boolean;
  store: AgentStore;
  /** This attempt's directory; each rank logs under `<attemptDir>/<rank>`. */
  attemptDir: string;
  /** The address this node's ranks advertise to other hosts (EH_COLLECTIVE_ADDR), if the agent knows one. */
  collectiveAddr?: string;
}

/** Ranks and environment of this node's workers in `info`'s world (torch's `_assign_worker_ranks`). */
export function workerLaunches(x: LaunchContext, info: RoundInfo, restartCount: number, master: { masterAddr: string; masterPort: number }): WorkerLaunch[] {
  const c = x.config;
  const sizes = [...info.participants].sort((a, b) => a.rank - b.rank).map((p) => p.localWorldSize ?? c.nprocPerNode);
  const worldSize = sizes.reduce((a, b) => a + b, 0);
  const base = sizes.slice(0, info.nodeRank).reduce((a, b) => a + b, 0);
  const out: WorkerLaunch[] = [];
  for (let lr = 0; lr < c.nprocPerNode; lr++) {
    const rank = base + lr;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(x.env)) if (v !== undefined) env[k] = v;
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
      MASTER_ADDR: master.masterAddr,
      MASTER_PORT: String(master.masterPort),
      TORCHELASTIC_RESTART_COUNT: String(restartCount),
      TORCHELASTIC_MAX_RESTARTS: String(c.maxRestarts),
      TORCHELASTIC_RUN_ID: c.rdzvId,
      [EH_ENV.STORE_BACKEND]: x.store.backend,
      [EH_ENV.STORE_ENDPOINT]: x.store.endpoint,
      [EH_ENV.TOKEN]: x.store.token,
      [EH_ENV.STORE_PREFIX]: `${info.storePrefix}/workers`,
      [EH_ENV.AGENT_IPC]: x.nodeWorker ? '1' : '0',
      [EH_ENV.HEARTBEAT_INTERVAL_MS]: x.nodeWorker ? String(Math.round(c.heartbeatInterval * 1000)) : '0',
      [EH_ENV.HEARTBEAT_MODE]: x.env[EH_ENV.HEARTBEAT_MODE] === 'manual' ? 'manual' : 'auto',
      [EH_ENV.LOG_DIR]: join(x.attemptDir, String(rank)),
      [EH_ENV.HOST_ID]: hostIdFrom(x.env),
      [EH_ENV.RDZV_ROUND]: String(info.round),
      [EH_ENV.NODE_ID]: x.nodeId,
    });
    if (x.collectiveAddr !== undefined) env.EH_COLLECTIVE_ADDR = x.collectiveAddr;
    // TORCHELASTIC_ERROR_FILE is set by the worker group, per worker directory.
    out.push({ rank, localRank: lr, env });
  }
  return out;
}

export interface MonitorContext {
  config: ElasticTrainingConfig;
  signals: AgentSignals;
  rdzv: AgentRendezvous;
  /** The job's outcome, once some agent ended it. */
  jobOutcome: () => Promise<string | undefined>;
}

/**
 * Watch `group` until its round ends: every worker succeeded, one failed (acted on at its exit event, not
 * at a tick) or hung, a stop signal came, or, across nodes, the round went stale, nodes wait to join, or
 * the store was lost.
 */
export function monitorWorkers(group: WorkerGroup, info: RoundInfo, m: MonitorContext): Promise<Outcome> {
  const c = m.config;
  const multiNode = !c.singleNode;
  return new Promise<Outcome>((resolveOutcome) => {
    let done = false;
    let polling = false;
    let multiNodeDone = false;
    let offSignal: () => void = () => undefined;
    const timer: { tick?: NodeJS.Timeout } = {};
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      clearInterval(timer.tick);
      offSignal();
      resolveOutcome(o);
    };
    for (const w of group.workers) {
      w.onExit(() => {
        if (w.failed) finish({ kind: 'failed', worker: w, reason: failureReason(w) });
        else if (group.workers.every((x) => x.exit !== undefined && !x.failed)) finish({ kind: 'succeeded' });
      });
    }
    if (done) return;
    offSignal = m.signals.onStop((sig) => finish({ kind: 'signal', signal: sig }));
    if (done) return;
    const timeoutMs = c.heartbeatTimeout * 1000;
    const keepAliveWindowMs = c.rdzvConf.keepAliveInterval * c.rdzvConf.keepAliveMaxAttempt * 1000;
    // When the last poll that got through was sent: an outage is timed from there, since a poll to an
    // unreachable store may take its whole request timeout to fail.
    let lastAnswered = Date.now();
    timer.tick = setInterval(() => {
      const now = Date.now();
      for (const w of group.workers) {
        if (w.running && w.heartbeats > 0 && c.heartbeatInterval > 0 && w.lastBeat !== undefined && now - w.lastBeat > timeoutMs) {
          finish({ kind: 'failed', worker: w, reason: 'hang' });
          return;
        }
      }
      if (!multiNode || polling || multiNodeDone) return;
      polling = true;
      const sent = Date.now();
      Promise.all([m.rdzv.isRoundStale(), m.rdzv.numNodesWaiting()])
        .then(async ([stale, waiting]) => {
          if (stale) {
            // A node whose workers all finished leaves the round; that is no reason to stop ours,
            // which are finishing too.
            if ((await m.rdzv.isClosed().catch(() => false)) && (await m.jobOutcome().catch(() => undefined)) === 'succeeded') {
              multiNodeDone = true;
              return;
            }
            finish({ kind: 'stale' });
          } else if (waiting > 0 && info.nodeCount < c.maxNodes) finish({ kind: 'scale-up', waiting });
        })
        .then(() => {
          lastAnswered = sent;
        })
        .catch((err: unknown) => {
          // An outage is lived through while this node's keep-alive key can still be renewed in time.
          if (!(err instanceof StoreUnavailableError)) return finish({ kind: 'store-lost', error: err });
          const forMs = Date.now() - lastAnswered;
          if (forMs >= keepAliveWindowMs) finish({ kind: 'lapsed', error: err, forMs });
        })
        .finally(() => {
          polling = false;
        });
    }, Math.max(10, c.monitorInterval * 1000));
  });
}

/**
 * Why a worker failed. A start-up failure is the script's own fault (bad path, syntax error, failed import:
 * reported by the bootstrap, or a non-zero exit before the worker counted as started) and is not retried.
 * A death by signal is never one: something outside killed the worker (the OOM killer, a user, a
 * preemption), however early, and a restart is the right answer.
 */
export function failureReason(w: WorkerProcess): FailureReason {
  if (w.startupError !== undefined) return 'startup';
  if (w.exit?.signal !== null && w.exit?.signal !== undefined) return 'signal';
  return w.started ? 'exit' : 'startup';
}

/** The record of `w`'s failure, before its error file and stderr are read (they are added once it is gone). */
export function failureRecord(w: WorkerProcess, reason: FailureReason, info: RoundInfo, nodeId: string, attempt: number, reportPath: string | undefined): FailureRecord {
  return {
    reason,
    rank: w.rank,
    localRank: w.localRank,
    nodeId,
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
}
