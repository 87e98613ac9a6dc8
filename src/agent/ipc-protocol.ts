import type { SnapshotReply, SnapshotRequest } from '../checkpoint/index.js';

/**
 * Messages on the Node IPC channel between an agent and each of its workers. Every message carries
 * `eh` so that a user script's own `process.send()` traffic is never mistaken for ours.
 */

/** Worker -> agent. */
export type WorkerMessage =
  /** The script's module graph is loaded and linked: from here on, a failure is a run-time failure, not a start-up one. */
  | { eh: 'started' }
  /** A standby process has loaded Node and its preloads and waits for a `start`. */
  | { eh: 'standby-ready' }
  | { eh: 'hb'; step?: number }
  /** Training figures for the agent's metrics, events and dashboard (validated there: see metrics/live/figures.ts). */
  | { eh: 'metrics'; figures: unknown }
  /** The script could not be loaded (bad path, syntax error, missing import). */
  | { eh: 'startup-error'; message: string; stack?: string }
  /** Answer to `report`: where the diagnostic report was written (undefined when it failed). */
  | { eh: 'report-written'; path?: string; error?: string }
  /** A non-Node worker's real process (the shim's child), so the agent can kill its whole group. */
  | { eh: 'child-pid'; pid: number }
  /** The agent-held memory: state that survives this worker's death (see agent-memory.ts). */
  | { eh: 'mem'; id: number; op: 'put'; key: string; data: Uint8Array }
  | { eh: 'mem'; id: number; op: 'get' | 'delete'; key: string }
  | { eh: 'mem'; id: number; op: 'keys'; prefix: string }
  /** The agent-held MEMORY checkpoint tier (checkpoint/agent-memory/protocol.ts). */
  | SnapshotRequest;

/** Agent -> worker. */
export type AgentMessage =
  /** Turn a standby process into a worker. */
  | { eh: 'start'; script: string; args: string[]; env: Record<string, string>; cwd: string }
  /** Write a Node diagnostic report to `path`. */
  | { eh: 'report'; path: string }
  | { eh: 'mem-reply'; id: number; ok: boolean; data?: Uint8Array; keys?: string[]; existed?: boolean; error?: string }
  | SnapshotReply;

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { eh?: unknown }).eh === 'string';
}

export function isAgentMessage(m: unknown): m is AgentMessage {
  return typeof m === 'object' && m !== null && typeof (m as { eh?: unknown }).eh === 'string';
}
