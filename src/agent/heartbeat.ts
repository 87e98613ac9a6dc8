/**
 * Worker side of the agent's liveness check. A worker started by `eh run` has an IPC channel to its
 * agent; heartbeats go over it. In `auto` mode (the default) a timer beats, which stops when the event
 * loop is blocked (an endless loop, a stuck native call); in `manual` mode only explicit `heartbeat()` /
 * `reportProgress()` calls count, which also catches a training loop that awaits forever.
 * Outside `eh run` every function here is a no-op, so scripts run the same stand-alone.
 */
import { EH_ENV } from '../env/index.js';
import type { WorkerMessage } from './ipc-protocol.js';

// Kept on the global object: the bootstrap and the script may load this module from different paths
// (dist/ and src/), and must still share one timer.
interface HeartbeatState {
  timer: NodeJS.Timeout | undefined;
  lastStep: number | undefined;
}
const KEY = Symbol.for('elastic-harness.heartbeat');
const g = globalThis as { [KEY]?: HeartbeatState };
const state: HeartbeatState = (g[KEY] ??= { timer: undefined, lastStep: undefined });

/** True when this process was started by an agent and can talk to it. */
export function isUnderAgent(): boolean {
  return typeof process.send === 'function' && process.connected && process.env[EH_ENV.AGENT_IPC] === '1';
}

function send(msg: WorkerMessage): void {
  if (!isUnderAgent()) return;
  try {
    process.send?.(msg);
  } catch {
    // The agent is gone; the disconnect handler ends this process.
  }
}

/** Milliseconds between automatic beats the agent asked for (0: heartbeats off). */
export function heartbeatIntervalMs(): number {
  const v = Number(process.env[EH_ENV.HEARTBEAT_INTERVAL_MS] ?? '0');
  return Number.isFinite(v) && v > 0 ? v : 0;
}

/** Send one heartbeat now. */
export function heartbeat(): void {
  send(state.lastStep === undefined ? { eh: 'hb' } : { eh: 'hb', step: state.lastStep });
}

/** Report the training step reached; counts as a heartbeat. */
export function reportProgress(step: number): void {
  state.lastStep = step;
  heartbeat();
}

/** Start beating every `intervalMs` (default: what the agent asked for). The timer never keeps the process alive. */
export function startHeartbeat(intervalMs = heartbeatIntervalMs()): void {
  stopHeartbeat();
  if (intervalMs <= 0 || !isUnderAgent()) return;
  heartbeat();
  state.timer = setInterval(heartbeat, intervalMs);
  state.timer.unref();
}

export function stopHeartbeat(): void {
  if (state.timer !== undefined) clearInterval(state.timer);
  state.timer = undefined;
}

/**
 * `manual`: stop the automatic timer, so that the agent sees a hang whenever the script stops calling
 * heartbeat()/reportProgress() for longer than --heartbeat-timeout. `auto`: restart the timer.
 */
export function setHeartbeatMode(mode: 'auto' | 'manual'): void {
  if (mode === 'manual') {
    stopHeartbeat();
    heartbeat();
  } else {
    startHeartbeat();
  }
}
