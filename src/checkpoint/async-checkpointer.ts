import path from 'node:path';
import { stageWrite } from './async-save.js';
import { AsyncCallsQueue, AsyncRequest, type FinalizeFn, type RankAgreement } from './async-queue.js';
import { assertValidName } from './names.js';
import { StagingPool } from './staging.js';
import type { StateValue } from './state-dict.js';

export interface AsyncCheckpointerOptions {
  agreement?: RankAgreement;
  /** Staging buffers (default 2). */
  maxStagingBuffers?: number;
  fsync?: boolean;
}

/**
 * Asynchronous saves of plain state dicts without the manager (NVRx's TorchAsyncCheckpoint): asyncSave stages
 * the state and queues the write on the persistent writer thread; finalizeAsyncSave finalizes finished saves.
 */
export class AsyncCheckpointer {
  readonly queue: AsyncCallsQueue;
  readonly stagingPool: StagingPool;
  private readonly fsync: boolean;

  constructor(options: AsyncCheckpointerOptions = {}) {
    this.queue = new AsyncCallsQueue({ agreement: options.agreement });
    this.stagingPool = new StagingPool(options.maxStagingBuffers ?? 2);
    this.fsync = options.fsync ?? true;
  }

  /**
   * Stages `stateDict` (after this resolves it may change freely) and queues its write to the checkpoint
   * directory `dir` (created atomically). Returns the call index.
   */
  async asyncSave(stateDict: StateValue, dir: string, options: { step?: number; finalizeFns?: FinalizeFn[] } = {}): Promise<number> {
    const root = path.dirname(path.resolve(dir));
    const name = path.basename(dir);
    assertValidName(name);
    const sd = stateDict as { step?: unknown };
    const step = options.step ?? (typeof sd?.step === 'number' && Number.isSafeInteger(sd.step) && sd.step >= 0 ? sd.step : 0);
    const write = await stageWrite(stateDict, step, null, { kind: 'local', root, fsync: this.fsync }, name, this.stagingPool, this.queue.caller);
    const request = new AsyncRequest({ asyncFn: () => write.run().finally(write.release), finalizeFns: options.finalizeFns });
    return this.queue.scheduleAsyncRequest(request);
  }

  /** Finalizes finished saves (all of them, waiting, with `blocking`); returns their call indices. */
  finalizeAsyncSave(options: { blocking?: boolean; noDist?: boolean } = {}): Promise<number[]> {
    return this.queue.maybeFinalizeAsyncCalls(options);
  }

  close(options: { abort?: boolean } = {}): Promise<void> {
    return this.queue.close(options);
  }
}
