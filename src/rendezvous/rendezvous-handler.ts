import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { ConfigurationError, DistributedSetupError, describeError } from '../errors/index.js';
import { StoreTimeoutError } from './errors.js';
import { countWaiting, decide, isAlive, parseState, type DecisionSettings, type NodeView, type RendezvousState } from './rendezvous-state.js';
import type { Store } from './store.js';
import { MAX_TIMER_MS } from './validate.js';

export interface RendezvousParams {
  /** The job's id: every agent of one job uses the same (torch's --rdzv-id). */
  runId: string;
  minNodes: number;
  maxNodes: number;
  /** A round that has not reached minNodes this long after this node joined it fails. */
  joinTimeoutMs: number;
  /** Once minNodes are in, how long more nodes may still join before the round closes (0: close at once). */
  lastCallTimeoutMs: number;
  /** Bound on setClosed() and shutdown(). */
  closeTimeoutMs: number;
  keepAliveIntervalMs: number;
  /** A node is dropped after keepAliveIntervalMs * keepAliveMaxAttempt without a keep-alive. */
  keepAliveMaxAttempt: number;
  /** Unique per agent; default `<hostname>-<pid>-<random>`. A restarted agent may reuse its id. */
  nodeId?: string;
  /** How peers reach this node (default: the hostname). */
  nodeAddr?: string;
}

export interface RendezvousParticipant {
  nodeId: string;
  addr: string;
  rank: number;
  localWorldSize?: number;
}

export interface RendezvousInfo {
  round: number;
  /** This node's rank among the round's nodes (join order). */
  nodeRank: number;
  nodeCount: number;
  participants: RendezvousParticipant[];
  /** Key prefix unique to this round, for the workers' own keys (EH_STORE_PREFIX). */
  storePrefix: string;
}

export const RENDEZVOUS_DEFAULTS = {
  joinTimeoutMs: 600_000,
  lastCallTimeoutMs: 30_000,
  closeTimeoutMs: 30_000,
  keepAliveIntervalMs: 5_000,
  keepAliveMaxAttempt: 3,
} as const;

function checkParams(p: RendezvousParams): void {
  const bad = (what: string, key: string): never => {
    throw new ConfigurationError(`Rendezvous ${what}`, { configKey: key });
  };
  if (typeof p.runId !== 'string' || p.runId.length === 0) bad('needs a non-empty runId (--rdzv-id)', 'rdzv_id');
  if (!Number.isInteger(p.minNodes) || p.minNodes < 1) bad(`minNodes must be an integer >= 1, got ${String(p.minNodes)}`, 'nnodes');
  if (!Number.isInteger(p.maxNodes) || p.maxNodes < p.minNodes) bad(`maxNodes must be an integer >= minNodes (${p.minNodes}), got ${String(p.maxNodes)}`, 'nnodes');
  for (const key of ['joinTimeoutMs', 'closeTimeoutMs', 'keepAliveIntervalMs'] as const) {
    if (typeof p[key] !== 'number' || !(p[key] > 0) || !Number.isFinite(p[key])) bad(`${key} must be a positive number of milliseconds, got ${String(p[key])}`, `rdzv_conf.${key}`);
  }
  // 0 is allowed: close as soon as minNodes are in.
  if (typeof p.lastCallTimeoutMs !== 'number' || !(p.lastCallTimeoutMs >= 0) || !Number.isFinite(p.lastCallTimeoutMs)) bad(`lastCallTimeoutMs must be a non-negative number of milliseconds, got ${String(p.lastCallTimeoutMs)}`, 'rdzv_conf.last_call_timeout');
  if (!Number.isInteger(p.keepAliveMaxAttempt) || p.keepAliveMaxAttempt < 1) bad(`keepAliveMaxAttempt must be an integer >= 1, got ${String(p.keepAliveMaxAttempt)}`, 'rdzv_conf.keep_alive_max_attempt');
  if (p.nodeId !== undefined && (typeof p.nodeId !== 'string' || p.nodeId.length === 0)) bad('nodeId must be a non-empty string', 'node_id');
}

/**
 * Rendezvous in rounds over any Store (torch's DynamicRendezvousHandler design):
 * join; once minNodes are in, a last-call window; close at once at maxNodes; ranks in join order;
 * keep-alive TTL keys; lapsed nodes dropped; late nodes wait for the next round (scale-up);
 * nodes beyond maxNodes are hot spares that fill a failed node's place.
 */
export class RendezvousHandler {
  readonly params: Required<Omit<RendezvousParams, 'nodeAddr'>> & { nodeAddr: string };
  readonly nodeId: string;
  /** This handler's incarnation; a node re-joining after a crash gets a new one. */
  readonly session = randomBytes(8).toString('hex');
  private readonly base: string;
  private lastRound = -1;
  private lastInfo: RendezvousInfo | undefined;
  private joined: { round: number; at: number } | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private keepAliveStarted: Promise<void> | undefined;
  private keepAliveError: unknown;
  private beating: Promise<void> | undefined;
  private beatStartedAt = 0;
  private readonly interruptWaits = new Set<() => void>();
  private stopped = false;

  constructor(
    private readonly store: Store,
    params: RendezvousParams,
  ) {
    checkParams(params);
    this.nodeId = params.nodeId ?? `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.params = { ...params, nodeId: this.nodeId, nodeAddr: params.nodeAddr ?? os.hostname() };
    this.base = `${params.runId}/rdzv`;
  }

  private get stateKey(): string {
    return `${this.base}/state`;
  }

  private get aliveTtlMs(): number {
    return this.params.keepAliveIntervalMs * this.params.keepAliveMaxAttempt;
  }

  private aliveKey(nodeId: string, session: string): string {
    return `${this.base}/alive/${encodeURIComponent(nodeId)}/${session}`;
  }

  private get settings(): DecisionSettings {
    const p = this.params;
    return { runId: p.runId, minNodes: p.minNodes, maxNodes: p.maxNodes, lastCallTimeoutMs: p.lastCallTimeoutMs, joinTimeoutMs: p.joinTimeoutMs, keepAliveIntervalMs: p.keepAliveIntervalMs };
  }

  /** The round this node last joined (-1 before the first). */
  get round(): number {
    return this.lastRound;
  }

  /** What the last nextRendezvous() returned. */
  get info(): RendezvousInfo | undefined {
    return this.lastInfo;
  }

  /**
   * Join the next round; resolves once it closes with this node in it. A hot spare (round full) or a
   * node that arrived after the round closed keeps waiting for the next round. Rejects with
   * DistributedSetupError when the job is closed, the store is lost, a round this node is in does not
   * reach minNodes within joinTimeoutMs, or the join is stopped by `signal` or shutdown() (it then
   * leaves an open round first).
   */
  async nextRendezvous(extra?: { localWorldSize?: number; signal?: AbortSignal }): Promise<RendezvousInfo> {
    const signal = extra?.signal;
    const interrupted = (): DistributedSetupError | undefined => {
      if (this.stopped) return new DistributedSetupError(`The rendezvous handler of node ${this.nodeId} was shut down`);
      if (signal?.aborted === true) return new DistributedSetupError(`Joining the rendezvous of run "${this.params.runId}" was aborted`, { cause: signal.reason });
      return undefined;
    };
    const early = interrupted();
    if (early !== undefined) throw early;
    await this.startKeepAlive();
    for (;;) {
      const stop = interrupted();
      if (stop !== undefined) {
        await this.leaveOpenRound().catch(() => undefined);
        throw stop;
      }
      const raw = await this.store.get(this.stateKey);
      const state = parseState(raw, this.params.runId);
      const alive = await this.readAlive();
      const now = Date.now();
      if (state !== undefined && !state.complete && state.participants.some((p) => p.nodeId === this.nodeId && p.session === this.session)) {
        if (this.joined?.round !== state.round) this.joined = { round: state.round, at: now };
      } else if (state !== undefined && this.joined !== undefined && this.joined.round !== state.round) {
        this.joined = undefined;
      }
      const view: NodeView = {
        nodeId: this.nodeId,
        session: this.session,
        addr: this.params.nodeAddr,
        lastRound: this.lastRound,
        joinedAt: this.joined?.round === state?.round ? this.joined?.at : undefined,
        now,
        alive,
      };
      if (extra?.localWorldSize !== undefined) view.localWorldSize = extra.localWorldSize;
      const d = decide(state, view, this.settings);
      switch (d.kind) {
        case 'finish':
          return this.finish(state as RendezvousState);
        case 'closed':
          await this.stopKeepAlive().catch(() => undefined);
          throw new DistributedSetupError(`The rendezvous of run "${this.params.runId}" is closed: the job has finished`, {
            context: { runId: this.params.runId },
            suggestions: ['Start a new job with a new --rdzv-id to train again.'],
          });
        case 'update':
          await this.write(raw, d.next);
          continue;
        case 'timeout':
          this.joined = undefined;
          // Leave the round so the others' counts are right, and stop looking alive: a node that gave up
          // must not count as waiting (which would make the others restart for nothing).
          await this.leaveOpenRound().catch(() => undefined);
          await this.stopKeepAlive().catch(() => undefined);
          throw d.error;
        case 'wait':
          await this.waitForChange(state?.version ?? 0, d.untilMs - Date.now(), signal);
          continue;
      }
    }
  }

  /** Live nodes that want to join a later round (the scale-up signal); hot spares beyond max are not counted. */
  async numNodesWaiting(): Promise<number> {
    const state = parseState(await this.store.get(this.stateKey), this.params.runId);
    return countWaiting(state, await this.readAlive(), this.params.maxNodes);
  }

  /** True once a newer round has started, or a participant of this node's round has lapsed. */
  async isRoundStale(): Promise<boolean> {
    if (this.lastRound < 0) return false;
    const state = parseState(await this.store.get(this.stateKey), this.params.runId);
    if (state === undefined || state.round !== this.lastRound || !state.complete) return true;
    const alive = await this.readAlive();
    const view = { alive } as NodeView;
    return state.participants.some((p) => !isAlive(view, p));
  }

  /** Count a restart for the whole job (not this agent): a node that leaves and re-joins cannot reset it. */
  async incrementRestartCount(): Promise<number> {
    return this.store.add(`${this.base}/restarts`, 1);
  }

  async getRestartCount(): Promise<number> {
    const key = `${this.base}/restarts`;
    const v = await this.store.get(key);
    if (v === undefined) return 0;
    const n = Number(v);
    // A value that is not a count must not read as some number of restarts.
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new DistributedSetupError(`The restart count of run "${this.params.runId}" in the store (${key}) is not a count: ${JSON.stringify(v.slice(0, 40))}`);
    return n;
  }

  /** Mark the job finished: every node's nextRendezvous() rejects from now on. */
  async setClosed(): Promise<void> {
    await this.bounded('setClosed', async () => {
      for (;;) {
        const raw = await this.store.get(this.stateKey);
        const state = parseState(raw, this.params.runId) ?? { version: 0, round: 0, complete: false, closed: false, participants: [], nextSeq: 0 };
        if (state.closed) return;
        if (await this.write(raw, { ...state, closed: true })) return;
      }
    });
  }

  async isClosed(): Promise<boolean> {
    return parseState(await this.store.get(this.stateKey), this.params.runId)?.closed === true;
  }

  /** Stop the keep-alive and leave: an open round forgets this node, a closed one sees it lapse at once. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const wake of [...this.interruptWaits]) wake();
    await this.bounded('shutdown', async () => {
      await this.stopKeepAlive();
      await this.leaveOpenRound();
    });
  }

  /** Stop refreshing and delete our keep-alive key; a later nextRendezvous() starts it again. */
  private async stopKeepAlive(): Promise<void> {
    const started = this.keepAliveStarted;
    this.keepAliveStarted = undefined;
    await started?.catch(() => undefined);
    if (this.keepAliveTimer !== undefined) clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
    // A beat in flight would re-create the key after our delete (but a stuck one must not hold us up).
    if (this.beating !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.beating, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(this.params.keepAliveIntervalMs, MAX_TIMER_MS))))]);
      clearTimeout(timer);
    }
    await this.store.delete(this.aliveKey(this.nodeId, this.session));
  }

  /** Remove this incarnation from the current round if that round is still open. */
  private async leaveOpenRound(): Promise<void> {
    for (;;) {
      const raw = await this.store.get(this.stateKey);
      const state = parseState(raw, this.params.runId);
      if (state === undefined || state.complete || !state.participants.some((p) => p.session === this.session)) return;
      const participants = state.participants.filter((p) => p.session !== this.session);
      const next: RendezvousState = { ...state, participants };
      if (participants.length < this.params.minNodes) delete next.lastCallDeadline;
      if (await this.write(raw, next)) return;
    }
  }

  /** The last keep-alive failure, if the store could not be reached (for diagnostics). */
  get lastKeepAliveError(): unknown {
    return this.keepAliveError;
  }

  private finish(state: RendezvousState): RendezvousInfo {
    const participants = state.participants.map((p, rank) => {
      const out: RendezvousParticipant = { nodeId: p.nodeId, addr: p.addr, rank };
      if (p.localWorldSize !== undefined) out.localWorldSize = p.localWorldSize;
      return out;
    });
    const nodeRank = participants.findIndex((p) => p.nodeId === this.nodeId);
    this.lastRound = state.round;
    this.joined = undefined;
    this.lastInfo = { round: state.round, nodeRank, nodeCount: participants.length, participants, storePrefix: `${this.params.runId}/round/${state.round}` };
    return this.lastInfo;
  }

  /** CAS the state; on success, wake the waiters. False when someone else changed it first. */
  private async write(raw: string | undefined, next: RendezvousState): Promise<boolean> {
    const previous = parseState(raw, this.params.runId);
    const version = (previous?.version ?? 0) + 1;
    const res = await this.store.compareAndSet(this.stateKey, raw, JSON.stringify({ ...next, version }));
    if (!res.ok) return false;
    await this.store.set(`${this.base}/changed/${version}`, '1');
    if (version > 16) await this.store.delete(`${this.base}/changed/${version - 16}`);
    if (previous !== undefined && next.round > previous.round && next.round >= 2) void this.forgetRound(next.round - 2);
    return true;
  }

  /**
   * Delete a finished round's worker keys (`<runId>/round/<n>/...`), so a long job's store does not grow
   * with every restart. Two rounds back: that round's workers were stopped before the last round formed.
   * Best effort, in the background: a failure here costs only memory.
   */
  private async forgetRound(round: number): Promise<void> {
    try {
      const prefix = `${this.params.runId}/round/${round}/`;
      for (const key of await this.store.keys(prefix)) await this.store.delete(key);
    } catch {
      // the store is gone or busy: nothing to clean then
    }
  }

  /** Wait for the next state change, at most timeoutMs; shutdown() or the caller's signal cut it short. */
  private async waitForChange(version: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (timeoutMs <= 0) return;
    let onAbort: (() => void) | undefined;
    const interrupted = new Promise<void>((resolve) => {
      const wake = (): void => resolve();
      onAbort = wake;
      this.interruptWaits.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
    const waiting = this.store.wait([`${this.base}/changed/${version + 1}`], Math.ceil(timeoutMs)).catch((err: unknown) => {
      if (!(err instanceof StoreTimeoutError)) throw err;
    });
    try {
      await Promise.race([waiting, interrupted]);
    } finally {
      if (onAbort !== undefined) {
        this.interruptWaits.delete(onAbort);
        signal?.removeEventListener('abort', onAbort);
      }
      // An interrupted store wait still ends by itself at its timeout; its outcome no longer matters.
      waiting.catch(() => undefined);
    }
  }

  private async readAlive(): Promise<Map<string, Set<string>>> {
    const prefix = `${this.base}/alive/`;
    const alive = new Map<string, Set<string>>();
    for (const key of await this.store.keys(prefix)) {
      const [id, session] = key.slice(prefix.length).split('/');
      if (id === undefined || session === undefined) continue;
      const nodeId = decodeURIComponent(id);
      let set = alive.get(nodeId);
      if (set === undefined) alive.set(nodeId, (set = new Set()));
      set.add(session);
    }
    return alive;
  }

  private startKeepAlive(): Promise<void> {
    if (this.keepAliveStarted !== undefined) return this.keepAliveStarted;
    const starting = (async () => {
      // Older incarnations of this node id are dead by definition: forget them now, not at their TTL.
      const mine = `${this.base}/alive/${encodeURIComponent(this.nodeId)}/`;
      for (const key of await this.store.keys(mine)) await this.store.delete(key);
      await this.beat();
      this.keepAliveTimer = setInterval(() => {
        // A slow store: do not pile up writes, but never let one stuck write stop the keep-alive.
        if (this.beating !== undefined && Date.now() - this.beatStartedAt < 2 * this.params.keepAliveIntervalMs) return;
        this.beatStartedAt = Date.now();
        const current: Promise<void> = this.beat()
          .catch((err: unknown) => {
            this.keepAliveError = err;
          })
          .finally(() => {
            if (this.beating === current) this.beating = undefined;
          });
        this.beating = current;
      }, Math.min(this.params.keepAliveIntervalMs, MAX_TIMER_MS));
      this.keepAliveTimer.unref();
    })();
    // A start that failed (the store was unreachable) is tried again by the next nextRendezvous(),
    // not remembered as failed for good.
    this.keepAliveStarted = starting.catch((err: unknown) => {
      if (this.keepAliveStarted === guarded) this.keepAliveStarted = undefined;
      throw err;
    });
    const guarded = this.keepAliveStarted;
    return guarded;
  }

  private async beat(): Promise<void> {
    if (this.keepAliveTimer === undefined && this.keepAliveStarted === undefined) return;
    await this.store.set(this.aliveKey(this.nodeId, this.session), String(Date.now()), { ttlMs: this.aliveTtlMs });
    this.keepAliveError = undefined;
  }

  private async bounded(what: string, fn: () => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DistributedSetupError(`Rendezvous ${what} of run "${this.params.runId}" did not finish within ${this.params.closeTimeoutMs} ms (closeTimeout)`)), Math.min(this.params.closeTimeoutMs, MAX_TIMER_MS));
    });
    try {
      await Promise.race([fn(), timeout]);
    } catch (err) {
      if (err instanceof DistributedSetupError) throw err;
      throw new DistributedSetupError(`Rendezvous ${what} of run "${this.params.runId}" failed: ${describeError(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}
