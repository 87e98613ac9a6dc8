/**
 * Worker side of the agent-held memory: put bytes in the agent's process, where they survive this
 * worker's death, and read them back after a restart, faster than any disk. Under `eh run` only
 * (Node workers); `available()` says whether there is an agent to hold them.
 */
import { isUnderAgent } from './heartbeat.js';
import { isAgentMessage, type AgentMessage, type WorkerMessage } from './ipc-protocol.js';

type Reply = Extract<AgentMessage, { eh: 'mem-reply' }>;
type MemRequest = Extract<WorkerMessage, { eh: 'mem' }>;
// Distributive Omit, so each operation keeps its own fields.
type MemBody = MemRequest extends infer R ? (R extends MemRequest ? Omit<R, 'id'> : never) : never;

let nextId = 1;
const pending = new Map<number, (r: Reply) => void>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  process.on('message', (m: unknown) => {
    if (!isAgentMessage(m) || m.eh !== 'mem-reply') return;
    const cb = pending.get(m.id);
    pending.delete(m.id);
    cb?.(m);
  });
  // The listener must not keep a finished worker alive (unless the bootstrap holds the channel open
  // while the script's top level runs).
  if ((globalThis as Record<symbol, unknown>)[Symbol.for('elastic-harness.hold-channel')] !== true) process.channel?.unref();
}

function request(msg: MemBody, timeoutMs = 30_000): Promise<Reply> {
  if (!isUnderAgent()) return Promise.reject(new Error('agent memory needs a worker started by `eh run` (no IPC channel to an agent)'));
  listen();
  const id = nextId++;
  return new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the agent did not answer a memory ${msg.op} within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, (r) => {
      clearTimeout(timer);
      if (r.ok) resolve(r);
      else reject(new Error(r.error ?? 'agent memory request failed'));
    });
    process.send?.({ ...msg, id } as WorkerMessage, (err: Error | null) => {
      if (err === null) return;
      clearTimeout(timer);
      pending.delete(id);
      reject(err);
    });
  });
}

export const agentMemory = {
  /** True when this worker has an agent to hold memory. */
  available(): boolean {
    return isUnderAgent();
  },
  async put(key: string, data: Uint8Array): Promise<void> {
    await request({ eh: 'mem', op: 'put', key, data });
  },
  async get(key: string): Promise<Uint8Array | undefined> {
    const r = await request({ eh: 'mem', op: 'get', key });
    return r.data === undefined ? undefined : new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  },
  async delete(key: string): Promise<boolean> {
    return (await request({ eh: 'mem', op: 'delete', key })).existed === true;
  },
  async keys(prefix = ''): Promise<string[]> {
    return (await request({ eh: 'mem', op: 'keys', prefix })).keys ?? [];
  },
};
