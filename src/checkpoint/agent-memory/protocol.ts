/**
 * The agent-held MEMORY tier's messages on the IPC channel between a worker and its agent (`eh run`).
 * The checkpoint part owns this contract (the worker side, agent-memory/backend.ts); the agent implements
 * the holder side by importing these types, so the checkpoint never imports the agent.
 *
 * Bytes never travel in these messages: the agent makes a file of the snapshot's size in a tmpfs
 * (/dev/shm) that it owns, the worker writes the state into it once (its only copy) and commits it; the
 * agent checksums it, keeps it while the worker lives or dies, and sends it to one peer node's agent.
 */
import type { CheckpointPlan } from '../plan.js';

/** Where a copy is held, seen from the worker asking. */
export type SnapshotHolder = 'agent' | 'peer-agent';

/** One whole (committed and checksummed) snapshot a worker may load. */
export interface SnapshotListing {
  name: string;
  step: number;
  /** `agent`: this node's agent holds it; `peer-agent`: another node's agent does (a copy sent to it, or held for a lost node). */
  holder: SnapshotHolder;
  /** The agent (node id) holding this copy. */
  node: string;
  /** The node whose worker saved it. */
  origin: string;
}

/** A snapshot opened for reading: a file in this node's tmpfs, its manifest (JSON text) and where each checkpoint file starts in it. */
export interface OpenedSnapshot {
  path: string;
  manifest: string;
  offsets: Record<string, number>;
  bytes: number;
  holder: SnapshotHolder;
  node: string;
  origin: string;
}

export type SnapshotOp =
  /** Make room for a snapshot of `bytes` (evicting older ones within the node's bound) and a file to write it into. */
  | { op: 'alloc'; rank: number; name: string; step: number; bytes: number }
  /** The worker wrote every byte of `name` into the file alloc gave: the agent checksums and keeps it. */
  | { op: 'commit'; rank: number; name: string; plan: CheckpointPlan; offsets: Record<string, number> }
  /** A save that failed half-way: drop its file. */
  | { op: 'abort'; rank: number; name: string }
  /** Whole snapshots saved by `rank`, held here or by the other agents of the job. */
  | { op: 'list'; rank: number }
  /** Open one copy of `name` (fetched from `node` into this node's tmpfs first when another agent holds it). */
  | { op: 'open'; rank: number; name: string; node: string }
  /** A copy failed its checksums: the agent forgets it, so that it is never offered again. */
  | { op: 'discard'; rank: number; name: string; node: string; reason: string }
  /** Retention: delete `name` here and on the peer it was sent to. */
  | { op: 'delete'; rank: number; name: string };

export type SnapshotRequest = { eh: 'ckpt-mem'; id: number } & SnapshotOp;

export interface SnapshotReply {
  eh: 'ckpt-mem-reply';
  id: number;
  ok: boolean;
  error?: string;
  /** alloc: the file to write. */
  path?: string;
  /** alloc refused because the snapshot alone is larger than the node's bound. */
  tooLarge?: { bytes: number; limit: number };
  list?: SnapshotListing[];
  opened?: OpenedSnapshot;
}

export function isSnapshotRequest(m: unknown): m is SnapshotRequest {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as { eh?: unknown; id?: unknown; op?: unknown; rank?: unknown };
  return r.eh === 'ckpt-mem' && typeof r.id === 'number' && typeof r.op === 'string' && typeof r.rank === 'number' && Number.isSafeInteger(r.rank) && r.rank >= 0;
}

export function isSnapshotReply(m: unknown): m is SnapshotReply {
  return typeof m === 'object' && m !== null && (m as { eh?: unknown }).eh === 'ckpt-mem-reply' && typeof (m as { id?: unknown }).id === 'number';
}
