import path from 'node:path';
import { stageWrite } from './async-save.js';
import { AsyncCallsQueue, AsyncRequest, type FinalizeFn, type RankAgreement } from './async-queue.js';
import { assertNameOfStep, assertValidName, stepOfName } from './names.js';
import { StagingPool } from './staging.js';
import { writerFunction } from './writer-function.js';
import { WRITER_JOBS_MODULE } from './writer-jobs.js';

/** The writer thread's own write of a staged checkpoint, as an AsyncRequest's function. */
const WRITE_STAGED = writerFunction(WRITER_JOBS_MODULE, 'writeStaged');
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
    // The manifest's step is the one the directory's name carries (a backend listing the directory orders it by
    // name, and counts it only if the two agree); a step given explicitly must agree with it.
    const named = stepOfName(name);
    if (options.step !== undefined && named >= 0) assertNameOfStep(name, options.step);
    const step = options.step ?? (named >= 0 ? named : typeof sd?.step === 'number' && Number.isSafeInteger(sd.step) && sd.step >= 0 ? sd.step : 0);
    const write = await stageWrite(stateDict, step, null, { kind: 'local', root, fsync: this.fsync }, name, this.stagingPool, this.queue.caller);
    const request = new AsyncRequest({ asyncFn: WRITE_STAGED, asyncFnArgs: [write.job], onSettled: write.release, finalizeFns: options.finalizeFns });
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
