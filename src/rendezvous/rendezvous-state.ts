import { z } from 'zod';
import { DistributedSetupError } from '../errors/index.js';

/**
 * The rendezvous state, one JSON value in the store, changed only by compare-and-set. The design is
 * torch's DynamicRendezvousHandler (a shared state blob, every node running the same decision
 * function over it), with liveness kept in TTL keys instead of wall-clock heartbeats in the blob, so
 * that dropping a dead node does not depend on the nodes' clocks agreeing.
 */
export interface ParticipantEntry {
  nodeId: string;
  addr: string;
  /** Identifies one incarnation of the node's handler: a node that crashed and re-joined gets a new one. */
  session: string;
  /** Join order within the round; ranks follow it. */
  seq: number;
  localWorldSize?: number;
}

export interface RendezvousState {
  /** Bumped on every change; waiters wake on `changed/<version + 1>`. */
  version: number;
  round: number;
  /** The round is closed to joiners: its participants and ranks are final. */
  complete: boolean;
  /** The job is over: nobody joins any more. */
  closed: boolean;
  /** In join order; once complete, a participant's rank is its index. */
  participants: ParticipantEntry[];
  /** Wall-clock ms at which a round that reached min closes (the last-call window). */
  lastCallDeadline?: number;
  nextSeq: number;
}

export interface DecisionSettings {
  runId: string;
  minNodes: number;
  maxNodes: number;
  lastCallTimeoutMs: number;
  joinTimeoutMs: number;
  keepAliveIntervalMs: number;
}

export interface NodeView {
  nodeId: string;
  session: string;
  addr: string;
  localWorldSize?: number;
  /** The round this handler last returned (-1: none yet). */
  lastRound: number;
  /** When this node found itself a participant of the current open round (for the join timeout). */
  joinedAt: number | undefined;
  now: number;
  /** Live incarnations: nodeId -> sessions with a live keep-alive key. */
  alive: Map<string, Set<string>>;
}

export type Decision =
  | { kind: 'finish' }
  | { kind: 'update'; next: RendezvousState; why: string }
  | { kind: 'wait'; untilMs: number; why: string }
  | { kind: 'timeout'; next: RendezvousState | undefined; error: DistributedSetupError }
  | { kind: 'closed' };

export function isAlive(view: NodeView, p: { nodeId: string; session: string }): boolean {
  return view.alive.get(p.nodeId)?.has(p.session) === true;
}

const count = z.number().int().nonnegative();
const participantSchema = z.object({ nodeId: z.string(), addr: z.string(), session: z.string(), seq: count, localWorldSize: z.number().int().positive().optional() });
const stateSchema = z.object({
  version: count,
  round: count,
  complete: z.boolean(),
  closed: z.boolean(),
  participants: z.array(participantSchema),
  lastCallDeadline: z.number().optional(),
  nextSeq: count,
});

export function parseState(raw: string | undefined, runId: string): RendezvousState | undefined {
  if (raw === undefined) return undefined;
  let problem: string;
  try {
    const r = stateSchema.safeParse(JSON.parse(raw));
    if (r.success) return r.data;
    problem = r.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ');
  } catch (err) {
    problem = `not JSON (${(err as Error).message})`;
  }
  throw new DistributedSetupError(`The rendezvous state of run "${runId}" in the store is not readable: ${problem}`, {
    suggestions: ['Another program (or another version) wrote under this run id: use a new --rdzv-id, or delete the run\'s keys from the store.'],
  });
}

function withParticipant(state: RendezvousState, view: NodeView, settings: DecisionSettings): RendezvousState {
  const entry: ParticipantEntry = { nodeId: view.nodeId, addr: view.addr, session: view.session, seq: state.nextSeq };
  if (view.localWorldSize !== undefined) entry.localWorldSize = view.localWorldSize;
  const participants = [...state.participants, entry];
  const next: RendezvousState = { ...state, participants, nextSeq: state.nextSeq + 1 };
  if (participants.length >= settings.minNodes && state.lastCallDeadline === undefined) next.lastCallDeadline = view.now + settings.lastCallTimeoutMs;
  if (participants.length >= settings.maxNodes) return complete(next);
  return next;
}

function complete(state: RendezvousState): RendezvousState {
  const participants = [...state.participants].sort((a, b) => a.seq - b.seq);
  const next: RendezvousState = { ...state, participants, complete: true };
  delete next.lastCallDeadline;
  return next;
}

function openNextRound(state: RendezvousState, view: NodeView, settings: DecisionSettings): RendezvousState {
  const fresh: RendezvousState = { version: state.version, round: state.round + 1, complete: false, closed: false, participants: [], nextSeq: 0 };
  return withParticipant(fresh, view, settings);
}

function without(state: RendezvousState, drop: (p: ParticipantEntry) => boolean, settings: DecisionSettings): RendezvousState {
  const participants = state.participants.filter((p) => !drop(p));
  const next: RendezvousState = { ...state, participants };
  if (participants.length < settings.minNodes) delete next.lastCallDeadline;
  return next;
}

/** One step of the state machine: what this node does next given the state it read. */
export function decide(state: RendezvousState | undefined, view: NodeView, settings: DecisionSettings): Decision {
  if (state === undefined) {
    const first: RendezvousState = { version: 0, round: 0, complete: false, closed: false, participants: [], nextSeq: 0 };
    return { kind: 'update', next: withParticipant(first, view, settings), why: 'first node: open round 0' };
  }
  if (state.closed) return { kind: 'closed' };
  const me = state.participants.find((p) => p.nodeId === view.nodeId);
  const recheck = view.now + settings.keepAliveIntervalMs;

  if (state.complete) {
    if (me !== undefined && me.session === view.session) {
      if (state.round > view.lastRound) return { kind: 'finish' };
      return { kind: 'update', next: openNextRound(state, view, settings), why: `participant restarting: open round ${state.round + 1}` };
    }
    if (me !== undefined) return { kind: 'update', next: openNextRound(state, view, settings), why: `re-joining after a crash: open round ${state.round + 1}` };
    const lapsed = state.participants.filter((p) => !isAlive(view, p));
    if (lapsed.length > 0) {
      return { kind: 'update', next: openNextRound(state, view, settings), why: `participant(s) ${lapsed.map((p) => p.nodeId).join(', ')} lapsed: open round ${state.round + 1}` };
    }
    // Round closed without us: wait for its participants to restart (we are a scale-up signal or a spare).
    return { kind: 'wait', untilMs: recheck, why: `round ${state.round} is closed; waiting for the next` };
  }

  // Open round. Drop participants whose keep-alive lapsed (dead, or an older incarnation).
  const lapsed = state.participants.filter((p) => !isAlive(view, p));
  if (lapsed.length > 0) return { kind: 'update', next: without(state, (p) => lapsed.includes(p), settings), why: `dropping lapsed ${lapsed.map((p) => p.nodeId).join(', ')}` };

  if (me !== undefined && me.session !== view.session) {
    const rest = without(state, (p) => p === me, settings);
    return { kind: 'update', next: withParticipant(rest, view, settings), why: 're-joining after a crash: replace the old incarnation' };
  }
  if (me === undefined) {
    if (state.participants.length < settings.maxNodes) return { kind: 'update', next: withParticipant(state, view, settings), why: `join round ${state.round}` };
    return { kind: 'wait', untilMs: recheck, why: `round ${state.round} is full: hot spare` };
  }

  const count = state.participants.length;
  if (count >= settings.maxNodes) return { kind: 'update', next: complete(state), why: 'max reached' };
  if (count >= settings.minNodes) {
    const deadline = state.lastCallDeadline ?? view.now;
    // Only nodes we know of can come: once every live node is in, waiting longer gains nothing. Not
    // for round 0, whose nodes may still be booting and have no keep-alive yet.
    const everyLiveNodeIn = state.round > 0 && [...view.alive.entries()].every(([id, sessions]) => state.participants.some((p) => p.nodeId === id && sessions.has(p.session)));
    // A deadline far in the future means a skewed clock wrote it: never wait longer than the window.
    if (view.now >= deadline || deadline - view.now > settings.lastCallTimeoutMs || everyLiveNodeIn) {
      return { kind: 'update', next: complete(state), why: everyLiveNodeIn ? 'every live node joined' : 'last call over' };
    }
    return { kind: 'wait', untilMs: Math.min(deadline, recheck), why: 'last call' };
  }
  const joinedAt = view.joinedAt ?? view.now;
  const joinDeadline = joinedAt + settings.joinTimeoutMs;
  if (view.now >= joinDeadline) {
    const error = new DistributedSetupError(
      `Rendezvous of run "${settings.runId}" timed out after ${settings.joinTimeoutMs} ms: ${count} of the minimum ${settings.minNodes} node(s) joined round ${state.round}`,
      {
        context: { runId: settings.runId, minNodes: settings.minNodes, joined: count, round: state.round },
        suggestions: ['Start the other nodes with the same --rdzv-id and --rdzv-endpoint, lower --nnodes MIN, or raise join_timeout in --rdzv-conf.'],
      },
    );
    return { kind: 'timeout', next: without(state, (p) => p.nodeId === view.nodeId, settings), error };
  }
  return { kind: 'wait', untilMs: Math.min(joinDeadline, recheck), why: `waiting for ${settings.minNodes - count} more node(s)` };
}

/**
 * Live nodes that would join a next round: those outside the current closed round, up to max. While
 * a round is open nobody waits for a later one (they can join it), so the count is 0.
 */
export function countWaiting(state: RendezvousState | undefined, alive: Map<string, Set<string>>, maxNodes: number): number {
  if (state === undefined || state.closed || !state.complete) return 0;
  const inRound = new Set(state.participants.map((p) => p.nodeId));
  const outside = [...alive.keys()].filter((id) => !inRound.has(id)).length;
  return Math.max(0, Math.min(outside, maxNodes - state.participants.length));
}
