import { Worker } from 'node:worker_threads';
import { CheckpointSaveError } from '../errors/index.js';
import type { CallJob, WorkerReply, WorkerRequest, WriteJob } from './worker-protocol.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * The AWS SDK warns about the Node version once per module instance, and a worker thread has instances of its own:
 * a process saving to S3 printed it twice (main thread and writer). The main thread still says it once; the
 * writer, whose env is its own copy, is told not to (the SDK's documented switch).
 */
function writerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
}

function spawnWriter(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source under tsx: worker threads do not inherit its loader, so the worker registers it first.
    const target = new URL('./writer-worker.ts', here).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(target)}); })`;
    return new Worker(code, { eval: true, name: 'eh-checkpoint-writer', env: writerEnv() });
  }
  return new Worker(new URL('./writer-worker.js', here), { name: 'eh-checkpoint-writer', env: writerEnv() });
}

/**
 * One persistent writer thread (NVRx's PersistentAsyncCaller): started on first use, reused for every save,
 * restarted after close() or a crash. It keeps the process alive only while a write is in flight, so a
 * finished script exits normally, and being a thread it cannot outlive its process.
 */
export class PersistentAsyncCaller {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private starts = 0;

  get isAlive(): boolean {
    return this.worker !== undefined;
  }

  /** How many times a writer thread was started (a restart after close() counts). */
  get startCount(): number {
    return this.starts;
  }

  get threadId(): number | undefined {
    return this.worker?.threadId;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Starts the thread now rather than at the first save: booting it (loading the writer module) takes
   * hundreds of milliseconds, and a worker killed in that window would lose a save it believed queued.
   */
  start(): void {
    this.ensure();
  }

  /** Writes a staged checkpoint on the writer thread; resolves with its location. */
  async run(job: WriteJob): Promise<string> {
    return String(await this.post({ kind: 'write', ...job, id: 0 }));
  }

  /**
   * Calls a named function on the writer thread (after its `preload`, whose result are the arguments), in turn
   * with the writes; resolves with its result. Arguments and result are structured-cloned.
   */
  call(job: CallJob): Promise<unknown> {
    return this.post({ kind: 'call', ...job, id: 0 });
  }

  private post(request: WorkerRequest): Promise<unknown> {
    const worker = this.ensure();
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      try {
        worker.postMessage({ ...request, id });
      } catch (err) {
        this.pending.delete(id);
        if (this.pending.size === 0) worker.unref();
        reject(new CheckpointSaveError(`The arguments cannot be sent to the writer thread: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  /** Stops the writer thread: after the writes in flight finish, or at once with `abort` (they fail). */
  async close(options: { abort?: boolean } = {}): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    if (options.abort !== true) {
      await Promise.allSettled([...this.pending.values()].map((p) => new Promise<void>((r) => {
        const { resolve, reject } = p;
        p.resolve = (v) => { resolve(v); r(); };
        p.reject = (e) => { reject(e); r(); };
      })));
    }
    this.detach(worker, new CheckpointSaveError('The checkpoint writer was stopped (close with abort) before this save finished'));
    await worker.terminate();
  }

  private ensure(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = spawnWriter();
    this.starts++;
    worker.unref();
    worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else {
        const err = new CheckpointSaveError(reply.message, { tier: reply.tier, path: reply.path });
        if (reply.code !== undefined) Object.assign(err, { code: reply.code });
        p.reject(err);
      }
    });
    worker.on('error', (err) => this.detach(worker, new CheckpointSaveError(`The checkpoint writer thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => this.detach(worker, new CheckpointSaveError(`The checkpoint writer thread exited (code ${code}) before the save finished`)));
    this.worker = worker;
    return worker;
  }

  private detach(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

let shared: PersistentAsyncCaller | undefined;
/** The writer shared by backends that were not given one of their own. */
export function sharedCaller(): PersistentAsyncCaller {
  shared ??= new PersistentAsyncCaller();
  return shared;
}
