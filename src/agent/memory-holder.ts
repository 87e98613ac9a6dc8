/**
 * Agent side of the agent-held memory: byte blobs that workers put over IPC and that outlive the
 * worker that put them (a replacement reads them back instead of going to disk). Bounded in bytes.
 */
import type { WorkerMessage } from './ipc-protocol.js';
import type { WorkerProcess } from './worker-process.js';

type MemRequest = Extract<WorkerMessage, { eh: 'mem' }>;

export class MemoryHolder {
  private readonly blobs = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.bytes;
  }

  put(key: string, data: Uint8Array): void {
    const old = this.blobs.get(key)?.byteLength ?? 0;
    if (this.bytes - old + data.byteLength > this.limitBytes) {
      throw new Error(`agent memory full: ${key} (${data.byteLength} bytes) would exceed the limit of ${this.limitBytes} bytes (${this.bytes} in use); delete old entries or raise --memory-limit`);
    }
    this.blobs.set(key, data);
    this.bytes += data.byteLength - old;
  }

  get(key: string): Uint8Array | undefined {
    return this.blobs.get(key);
  }

  delete(key: string): boolean {
    const old = this.blobs.get(key);
    if (old === undefined) return false;
    this.bytes -= old.byteLength;
    return this.blobs.delete(key);
  }

  keys(prefix: string): string[] {
    return [...this.blobs.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Answer one worker request. */
  serve(w: WorkerProcess, m: MemRequest): void {
    try {
      switch (m.op) {
        case 'put':
          this.put(m.key, m.data instanceof Uint8Array ? m.data : new Uint8Array(m.data));
          w.send({ eh: 'mem-reply', id: m.id, ok: true });
          break;
        case 'get':
          w.send({ eh: 'mem-reply', id: m.id, ok: true, data: this.get(m.key) });
          break;
        case 'delete':
          w.send({ eh: 'mem-reply', id: m.id, ok: true, existed: this.delete(m.key) });
          break;
        case 'keys':
          w.send({ eh: 'mem-reply', id: m.id, ok: true, keys: this.keys(m.prefix) });
          break;
      }
    } catch (err) {
      w.send({ eh: 'mem-reply', id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
