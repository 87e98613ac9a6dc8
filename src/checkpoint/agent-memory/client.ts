/**
 * The worker's end of the agent-held MEMORY tier: requests over the IPC channel `eh run` opens to each
 * Node worker, answered by its agent (see protocol.ts).
 */
import { EH_ENV } from '../../env/index.js';
import { isSnapshotReply, type SnapshotOp, type SnapshotReply } from './protocol.js';

/** True when this process is a worker whose agent holds the MEMORY tier. */
export function agentHoldsMemory(env: NodeJS.ProcessEnv = process.env): boolean {
  return typeof process.send === 'function' && process.connected && env[EH_ENV.AGENT_IPC] === '1' && env[EH_ENV.AGENT_MEMORY] === '1';
}

let nextId = 1;
const pending = new Map<number, (r: SnapshotReply) => void>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  process.on('message', (m: unknown) => {
    if (!isSnapshotReply(m)) return;
    const cb = pending.get(m.id);
    pending.delete(m.id);
    cb?.(m);
  });
  // Listening must not keep a finished worker alive (the bootstrap holds the channel while the script's top level runs).
  if ((globalThis as Record<symbol, unknown>)[Symbol.for('elastic-harness.hold-channel')] !== true) process.channel?.unref();
}

/** Sends one request; rejects with the agent's error text, or when it does not answer within `timeoutMs`. */
export function snapshotRequest(op: SnapshotOp, timeoutMs: number): Promise<SnapshotReply> {
  if (!agentHoldsMemory()) return Promise.reject(new Error('no agent holds the memory tier (not a worker of `eh run`)'));
  listen();
  const id = nextId++;
  return new Promise<SnapshotReply>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the agent did not answer a memory-tier ${op.op} within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, (r) => {
      clearTimeout(timer);
      if (r.ok) resolve(r);
      else reject(Object.assign(new Error(r.error ?? `memory-tier ${op.op} failed`), { reply: r }));
    });
    process.send?.({ eh: 'ckpt-mem', id, ...op }, (err: Error | null) => {
      if (err === null) return;
      clearTimeout(timer);
      pending.delete(id);
      reject(err);
    });
  });
}
