/**
 * The agent's restart loop (torch's SimpleElasticAgent `_invoke_run`): join a round, start this node's
 * workers, watch them, and act on how the round ended: success ends the job; a failure is recorded,
 * counted once per round in the store, and restarted while --max-restarts allows; a stale round or
 * nodes waiting to join restart the workers in a new round; a stop signal ends it with 128+N. Workers that
 * exit with REQUEUE_EXIT_CODE (75) after a preemption end it with 75: no failure counted, no crash report.
 */
import { join } from 'node:path';
import { REQUEUE_EXIT_CODE } from '../env/index.js';
import { describeError } from '../errors/index.js';
import type { AgentRendezvous, RoundInfo } from './agent-rendezvous.js';
import { signalExitCode, type AgentSignals } from './agent-signals.js';
import { parseStreamSelect, type ElasticTrainingConfig } from './config.js';
import { captureDiagnosticReport } from './diagnostics.js';
import { readErrorFile } from './error-file.js';
import { redactText, secretValues } from './redact.js';
import { JobMonitor } from '../metrics/index.js';
import { formatFailureReport, type FailureRecord } from './failure-report.js';
import type { JobRecord } from './job-record.js';
import { isNodeScript } from './launch-command.js';
import { failureRecord, monitorWorkers, workerLaunches } from './local-workers.js';
import type { MemoryHolder } from './memory-holder.js';
import { agreeMaster, collectiveAddr } from './round-setup.js';
import { defaultPythonPreload, pythonJobOf } from './python/python-worker.js';
import { StandbyPool } from './standby-pool.js';
import { withStoreRetry } from './store-retry.js';
import { StoreUnavailableError } from '../rendezvous/index.js';
import type { AgentStore } from './store-setup.js';
import { WorkerGroup } from './worker-group.js';

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

/** What the agent holds across rounds; the agent's shutdown stops whatever is left in it. */
export interface AgentState {
  group: WorkerGroup | undefined;
  standby: StandbyPool | undefined;
  /** Worker groups started so far. */
  attempts: number;
  /** Nodes in the last round joined: how many the store's host waits for at the end. */
  lastNodeCount: number;
  /** The job's restart count as last read from the store (what a report says when the store is gone). */
  restarts: number;
}

export interface LoopContext {
  /** The job's events, metrics and dashboard feed (metrics/live); in memory only when not given. */
  monitor?: JobMonitor;
  config: ElasticTrainingConfig;
  script: string;
  scriptArgs: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  nodeId: string;
  log: (line: string) => void;
  memory: MemoryHolder;
  signals: AgentSignals;
  store: AgentStore;
  rdzv: AgentRendezvous;
  job: JobRecord;
  logDir: string;
  state: AgentState;
}

export async function runRestartLoop(context: LoopContext): Promise<AgentResult> {
  const x = { ...context, monitor: context.monitor ?? new JobMonitor({ job: context.config.rdzvId, node: context.nodeId }) };
  const { config: c, rdzv, job, signals, state, logDir } = x;
  const python = pythonJobOf(x.script, x.scriptArgs, { noNode: c.noNode, python: c.python });
  // Node and Python workers run through a bootstrap that talks to the agent; other executables do not.
  const nodeWorker = (!c.noNode && isNodeScript(x.script)) || python !== undefined;
  if (nodeWorker && c.standbyWorkers > 0) {
    const preload = python !== undefined && c.preload.length === 0 ? defaultPythonPreload(python, x.cwd) : c.preload;
    state.standby = new StandbyPool({ script: x.script, size: c.standbyWorkers, preload, nodeArgs: c.nodeArgs, cwd: x.cwd, env: x.env, warn: x.log, python });
  }
  const output = (lr: number): { consoleStdout: boolean; consoleStderr: boolean } => {
    // As torchrun's: --redirects keeps a stream off the console (files only); --tee puts it back on the console too.
    const red = parseStreamSelect(c.redirects, '--redirects')(lr);
    const tee = parseStreamSelect(c.tee, '--tee')(lr);
    return { consoleStdout: !red.stdout || tee.stdout, consoleStderr: !red.stderr || tee.stderr };
  };
  const result = (exitCode: number, restarts: number, rootCause: FailureRecord | undefined, headline?: string): AgentResult => {
    const report = headline === undefined ? undefined : formatFailureReport(rootCause, { headline, attempts: state.attempts, restarts, maxRestarts: c.maxRestarts, logDir });
    return { exitCode, attempts: state.attempts, restarts, rootCause, report, logDir };
  };
  /**
   * Preempted workers wrote their emergency checkpoint and asked to be run again: end the job with the same
   * code, so that the scheduler above `eh run` (a SLURM job script, RequeueExit, a wrapper) requeues it. It is
   * neither a failure (no restart counted, no crash report) nor a success (the job stays open for the rerun).
   */
  const requeued = (why: string): AgentResult => {
    x.log(`${why}: the workers exited with ${REQUEUE_EXIT_CODE} after their emergency checkpoint; ending with ${REQUEUE_EXIT_CODE} so that the job is requeued (it resumes from that checkpoint)`);
    return result(REQUEUE_EXIT_CODE, state.restarts, undefined);
  };
  let lastWorldSize: number | undefined;
  const firstFailure = (): Promise<FailureRecord | undefined> => job.firstFailure().catch(() => undefined);
  // An unreachable store is waited for as long as a node waits to join a round: past the keep-alive
  // window its membership lapses, and it comes back as a new node once the store answers again.
  const retry = { signals, log: x.log, outageMs: c.rdzvConf.joinTimeout * 1000 };
  // Calls that wait themselves (a round to form, rank 0's address): only an unreachable store is tried again.
  const outageOnly = { ...retry, isFinal: (e: unknown) => !(e instanceof StoreUnavailableError) };
  /** The restart count for a report: read once more, else the last one read (never a made-up 0). */
  const restartsNow = async (): Promise<number> => {
    let timer: NodeJS.Timeout | undefined;
    const gone = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 3000)));
    const n = await Promise.race([signals.interruptible(rdzv.getRestartCount()).catch(() => undefined), gone]);
    clearTimeout(timer);
    if (n !== undefined) state.restarts = n;
    return state.restarts;
  };

  while (true) {
    if (signals.signalled !== undefined) return result(signalExitCode(signals.signalled), state.restarts, undefined, `stopped by ${signals.signalled}`);
    let info: RoundInfo;
    try {
      info = await withStoreRetry('join the rendezvous', () => rdzv.nextRendezvous({ localWorldSize: c.nprocPerNode }), outageOnly);
    } catch (err) {
      if (signals.signalled !== undefined) continue;
      const outcome = await job.outcome().catch(() => undefined);
      if (outcome === 'succeeded') {
        x.log('the job has already finished; nothing to do');
        return result(0, 0, undefined);
      }
      const root = await firstFailure();
      return result(1, await restartsNow(), root, `FAILED: ${describeError(err)}`);
    }
    state.lastNodeCount = info.nodeCount;
    // Workers are told TORCHELASTIC_RESTART_COUNT: a count that cannot be read must not start them as if it were 0.
    let restartCount: number;
    try {
      restartCount = await withStoreRetry('read the restart count', () => rdzv.getRestartCount(), retry);
    } catch (err) {
      if (signals.signalled !== undefined) continue;
      return result(1, state.restarts, await firstFailure(), `FAILED: ${describeError(err)}`);
    }
    state.restarts = restartCount;
    let master: { masterAddr: string; masterPort: number };
    try {
      master = await withStoreRetry('agree on the master address', () => agreeMaster(x.store, info, c.rdzvConf.joinTimeout * 1000, signals), outageOnly);
    } catch (err) {
      if (signals.signalled !== undefined) continue;
      return result(1, state.restarts, await firstFailure(), `FAILED: ${describeError(err)}`);
    }
    const attemptDir = join(logDir, `attempt_${state.attempts}`);
    const launches = workerLaunches({ config: c, env: x.env, nodeId: x.nodeId, nodeWorker, store: x.store, attemptDir, collectiveAddr: await collectiveAddr(c, x.env) }, info, restartCount, master);
    x.log(`round ${info.round}: node rank ${info.nodeRank} of ${info.nodeCount}, ranks ${launches[0]?.rank}..${launches[launches.length - 1]?.rank} of ${launches[0]?.env.WORLD_SIZE}, restart count ${restartCount}`);
    const worldSize = Number(launches[0]?.env.WORLD_SIZE ?? 0);
    x.monitor.record({ type: 'rendezvous', round: info.round, worldSize, nodeRank: info.nodeRank, nnodes: info.nodeCount });
    if (lastWorldSize !== undefined && lastWorldSize !== worldSize) x.monitor.record({ type: 'world-size', from: lastWorldSize, to: worldSize });
    lastWorldSize = worldSize;
    const group = new WorkerGroup({ script: x.script, scriptArgs: x.scriptArgs, noNode: c.noNode, cwd: x.cwd, nodeArgs: c.nodeArgs, python, attemptDir, output }, state.standby, x.memory);
    state.group = group;
    const attempt = state.attempts;
    state.attempts += 1;
    group.start(launches);
    const fromStandby = group.workers.filter((w) => w.fromStandby).map((w) => w.rank);
    if (fromStandby.length > 0) x.log(`rank(s) ${fromStandby.join(',')} started from standby workers`);
    x.monitor.record({ type: 'workers-started', restartCount, ranks: group.workers.map((w) => w.rank) });
    for (const w of group.workers) {
      w.watchMessages((m) => {
        if (m.eh === 'metrics') x.monitor.workerReport(w.rank, m.figures);
      });
    }
    // Standbys are (re)filled once the workers run, so that starting them never slows a recovery.
    if (state.standby !== undefined) {
      const pool = state.standby;
      setTimeout(() => pool.fill(), 1000).unref();
    }
    const outcome = await monitorWorkers(group, info, { config: c, signals, rdzv, jobOutcome: () => job.outcome() });

    if (outcome.kind === 'succeeded') {
      // A worker's last lines may still be in its pipes when its exit event fires: keep them.
      await Promise.all(group.workers.map((w) => w.drained()));
      x.log(`all ${group.workers.length} local workers succeeded`);
      for (const gw of group.workers) x.monitor.setWorkerState(gw.rank, 'succeeded');
      await job.setOutcome('succeeded').catch(() => undefined);
      await rdzv.setClosed().catch(() => undefined);
      state.group = undefined;
      return result(0, restartCount, undefined);
    }
    if (outcome.kind === 'signal') {
      x.log(`got ${outcome.signal}: forwarding it to the workers, SIGKILL after ${c.gracePeriod} s`);
      await group.stop(outcome.signal, c.gracePeriod * 1000);
      state.group = undefined;
      if (askedToRequeue(group)) return requeued(`got ${outcome.signal}`);
      continue;
    }
    if (outcome.kind === 'store-lost') {
      await group.stop('SIGTERM', c.gracePeriod * 1000);
      state.group = undefined;
      return result(1, restartCount, undefined, `FAILED: lost the store: ${describeError(outcome.error)}`);
    }
    if (outcome.kind === 'stale' || outcome.kind === 'scale-up' || outcome.kind === 'lapsed') {
      x.log(
        outcome.kind === 'stale'
          ? 'the rendezvous moved on (a node left or restarted): restarting the workers in a new round'
          : outcome.kind === 'lapsed'
            ? `the store was unreachable for ${Math.round(outcome.forMs / 1000)} s, past the keep-alive window (${describeError(outcome.error)}): this node's place in the round has lapsed; stopping the workers and joining again as a new node once the store answers`
            : `${outcome.waiting} node(s) waiting to join: restarting the workers in a larger round`,
      );
      await group.stop('SIGTERM', c.gracePeriod * 1000);
      state.group = undefined;
      continue;
    }

    // A worker failed.
    const w = outcome.worker;
    if (w.exit?.code === REQUEUE_EXIT_CODE) {
      // Preempted by a signal that reached the worker, not this agent (a scheduler signalling every process of
      // the job): the trainer's ranks stop after the same step, so the others are on their way out with 75 too.
      x.log(`rank ${w.rank} exited with ${REQUEUE_EXIT_CODE} (preempted, asks to be requeued): stopping the other workers, SIGKILL after ${c.gracePeriod} s`);
      await group.stop('SIGTERM', c.gracePeriod * 1000);
      state.group = undefined;
      return requeued(`rank ${w.rank} was preempted`);
    }
    const secrets = [x.store.token, ...secretValues(x.env)];
    // Recorded at once, so that a recovery is timed from the failure, not from the end of the group's stop.
    const failedWith = outcome.reason === 'hang' ? undefined : readErrorFile(w.errorFile);
    x.monitor.record({ type: 'failure', rank: w.rank, exitCode: w.exit?.code ?? null, signal: w.exit?.signal ?? null, reason: outcome.reason === 'hang' ? 'hung (no heartbeat)' : failedWith !== undefined ? redactText(`${failedWith.name}: ${failedWith.message}`, secrets) : w.describeExit() });
    let reportPath: string | undefined;
    if (outcome.reason === 'hang') {
      x.log(`rank ${w.rank} sent no heartbeat for ${c.heartbeatTimeout} s: taking a diagnostic report, then restarting`);
      reportPath = await captureDiagnosticReport(w, join(w.dir, 'diagnostic-report.json'), 3000, secrets);
      w.kill('SIGKILL');
    }
    const stopping = group.stop('SIGTERM', c.gracePeriod * 1000);
    const record = failureRecord(w, outcome.reason, info, x.nodeId, attempt, reportPath);
    await stopping;
    state.group = undefined;
    await w.drained();
    // A worker that exited wrote its error file before it did; a hung one may only have written it while stopping.
    record.error = failedWith ?? readErrorFile(w.errorFile);
    record.stderrTail = w.stderrTail.map((l) => redactText(l, secrets));
    x.log(`rank ${w.rank} ${outcome.reason === 'hang' ? 'hung' : w.describeExit()}${record.error !== undefined ? `: ${record.error.name}: ${record.error.message}` : ''}`);
    let count: number;
    try {
      // The root cause every agent's report names: its loss would make the report blame a later symptom.
      await withStoreRetry('record the first failure', () => job.recordFailure(record), retry);
      if (outcome.reason === 'startup' && !c.retryStartupFailures) {
        await job.setOutcome('failed').catch(() => undefined);
        await rdzv.setClosed().catch(() => undefined);
        return result(1, restartCount, (await firstFailure()) ?? record, `FAILED at start-up: rank ${w.rank} could not start (not retried; pass --retry-startup-failures to retry)`);
      }
      // One restart per failed round, whichever agent claims it, so a failure that brings down every
      // node's workers is counted once, and a node re-joining under a new id still counts. An error here
      // must not pass for "another agent claimed it": that would be a restart nobody counted.
      const claimed = await withStoreRetry('claim the restart of the failed round', () => job.claimRestart(info.storePrefix, x.nodeId), retry);
      // A retried add whose first answer was lost may count one restart twice: over-counting stops a job
      // early, where under-counting would let a crashing job restart for ever.
      count = await withStoreRetry(claimed ? 'count the restart' : 'read the restart count', () => (claimed ? rdzv.incrementRestartCount() : rdzv.getRestartCount()), retry);
    } catch (err) {
      if (signals.signalled !== undefined) continue;
      return result(1, state.restarts, record, `FAILED: rank ${w.rank}'s failure could not be handled: ${describeError(err)}`);
    }
    // The store counts failures claimed; the restarts done are one fewer once the limit is passed.
    state.restarts = Math.min(count, c.maxRestarts);
    if (count > c.maxRestarts) {
      await job.setOutcome('failed').catch(() => undefined);
      await rdzv.setClosed().catch(() => undefined);
      return result(1, state.restarts, (await firstFailure()) ?? record, `FAILED after ${state.attempts} attempt(s): the job exceeded --max-restarts ${c.maxRestarts}`);
    }
    x.log(`restart ${count} of ${c.maxRestarts}`);
    x.monitor.record({ type: 'restart', restartCount: count, maxRestarts: c.maxRestarts });
  }
}

/** Every local worker ended with the requeue code (a worker SIGKILLed mid-checkpoint means the job did not finish cleanly). */
function askedToRequeue(group: WorkerGroup): boolean {
  return group.workers.length > 0 && group.workers.every((w) => w.exit?.code === REQUEUE_EXIT_CODE);
}
