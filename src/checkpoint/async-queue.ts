import { CheckpointSaveError, ConfigurationError, describeError } from '../errors/index.js';
import { PersistentAsyncCaller } from './persistent-caller.js';
import { isWriterFunction, type WriterFunction } from './writer-function.js';

export type FinalizeFn = () => void | Promise<void>;

/**
 * How ranks agree that a call finished everywhere: one small min-allreduce of 0/1. Injected, so that any
 * collective (or none, for one process) can serve.
 */
export interface RankAgreement {
  allReduceMin(value: number): Promise<number>;
}

/** One process alone agrees with itself. */
export const singleRankAgreement: RankAgreement = { allReduceMin: async (v) => v };

/**
 * The agreement used when none is given, decided at each call: through the collective's process group once
 * setupDistributedEnvironment() has built one (a min-allreduce of one int32); else one process agreeing with
 * itself; but with several ranks (WORLD_SIZE > 1) and no group, guessing would let ranks finalize different
 * calls, so it is an error naming the fix. The collective is loaded only when first needed.
 */
export function defaultAgreement(env: NodeJS.ProcessEnv = process.env): RankAgreement {
  return {
    allReduceMin: async (value) => {
      const collective = await import('../collective/index.js');
      if (collective.isInitialized()) return (await collective.allReduce(new Int32Array([value]), 'min'))[0];
      const worldSize = Number(env.WORLD_SIZE ?? 1);
      if (!(worldSize > 1)) return value;
      throw new ConfigurationError(`maybeFinalizeAsyncCalls needs the ranks to agree (WORLD_SIZE=${worldSize}) but no process group is set up and the queue was given no agreement`, {
        configKey: 'agreement',
        suggestions: [
          'Call setupDistributedEnvironment() (collective module) before finalizing, or pass { agreement: { allReduceMin } },',
          'or call maybeFinalizeAsyncCalls({ noDist: true }) when each rank may finalize on its own.',
        ],
      });
    },
  };
}

export interface AsyncRequestInit<A extends unknown[]> {
  /**
   * The background work, run on the persistent writer thread (off the training thread, as NVRx's persistent
   * caller runs it): a function named by writerFunction(module, export), since a closure cannot cross threads.
   */
  asyncFn: WriterFunction;
  /** Its arguments, structured-cloned to the writer thread (a SharedArrayBuffer is shared, not copied). */
  asyncFnArgs?: A;
  /** Run on the main thread, in order, once every rank finished the call. */
  finalizeFns?: FinalizeFn[];
  /** Run on the writer thread before asyncFn, given asyncFnArgs; returns the arguments asyncFn gets (NVRx's preload_fn). */
  preloadFn?: WriterFunction;
  /** Run on the main thread as soon as the call ended on this rank (done or failed), before any finalization: to free what it used. */
  onSettled?: () => void;
}

function asWriterFunction(fn: unknown, key: string): WriterFunction {
  if (isWriterFunction(fn)) return fn;
  throw new ConfigurationError(`AsyncRequest ${key} must name a function for the writer thread, got ${typeof fn === 'function' ? 'a function value' : typeof fn}`, {
    configKey: key,
    suggestions: [
      "It runs on the persistent writer thread, which cannot receive a closure: export it from a module and pass writerFunction(new URL('./my-save.js', import.meta.url), 'mySave').",
      'Work that must run on the main thread belongs in finalizeFns.',
    ],
  });
}

/** A checkpoint routine, its arguments and its finalization steps (NVRx's AsyncRequest). */
export class AsyncRequest<A extends unknown[] = unknown[]> {
  readonly asyncFn: WriterFunction;
  readonly asyncFnArgs: A;
  readonly preloadFn?: WriterFunction;
  readonly onSettled?: () => void;
  private readonly fns: FinalizeFn[];
  private frozen = false;

  constructor(init: AsyncRequestInit<A>) {
    this.asyncFn = asWriterFunction(init.asyncFn, 'asyncFn');
    this.asyncFnArgs = init.asyncFnArgs ?? ([] as unknown as A);
    this.preloadFn = init.preloadFn === undefined ? undefined : asWriterFunction(init.preloadFn, 'preloadFn');
    this.onSettled = init.onSettled;
    this.fns = [...(init.finalizeFns ?? [])];
  }

  get finalizeFns(): readonly FinalizeFn[] {
    return this.fns;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  addFinalizeFn(fn: FinalizeFn): void {
    if (this.frozen) {
      throw new ConfigurationError('This AsyncRequest is frozen (already scheduled): it takes no more finalize functions', {
        suggestions: ['Add finalize functions before scheduleAsyncRequest(), or schedule a new request.'],
      });
    }
    this.fns.push(fn);
  }

  /** Makes the request immutable; scheduling does it. */
  freeze(): this {
    this.frozen = true;
    return this;
  }
}

interface Call {
  idx: number;
  request: AsyncRequest<unknown[]>;
  done: boolean;
  error: unknown;
  settled: Promise<void>;
}

export interface AsyncCallsQueueOptions {
  /** Rank agreement for maybeFinalizeAsyncCalls without noDist; default: defaultAgreement(). */
  agreement?: RankAgreement;
  /** The persistent writer thread its requests use; default one of its own. */
  caller?: PersistentAsyncCaller;
}

/**
 * Schedules asynchronous checkpoint requests and finalizes them on the main thread once done on every rank
 * (NVRx's AsyncCallsQueue). Every rank must schedule and finalize the same calls in the same order.
 */
export class AsyncCallsQueue {
  readonly caller: PersistentAsyncCaller;
  private readonly agreement: RankAgreement;
  private readonly calls: Call[] = [];
  private nextIdx = 0;

  constructor(options: AsyncCallsQueueOptions = {}) {
    this.caller = options.caller ?? new PersistentAsyncCaller();
    this.agreement = options.agreement ?? defaultAgreement();
  }

  /** Freezes and starts the request; returns its call index (0, 1, 2, ...). */
  scheduleAsyncRequest<A extends unknown[]>(request: AsyncRequest<A>): number {
    request.freeze();
    const r = request as unknown as AsyncRequest<unknown[]>;
    const call: Call = { idx: this.nextIdx++, request: r, done: false, error: undefined, settled: Promise.resolve() };
    call.settled = (async () => {
      try {
        await this.caller.call({ fn: r.asyncFn, args: r.asyncFnArgs, preload: r.preloadFn });
      } catch (err) {
        call.error = err ?? new Error('async call failed');
      } finally {
        call.done = true;
        r.onSettled?.();
      }
    })();
    this.calls.push(call);
    return call.idx;
  }

  getNumUnfinalizedCalls(): number {
    return this.calls.length;
  }

  /**
   * Finalizes, oldest first, the calls done on this rank (and, unless `noDist`, on every rank: one min-allreduce
   * per call). With `blocking` it waits for all of them. Returns the finalized call indices; a failed call
   * raises CheckpointSaveError (after being removed from the queue).
   */
  async maybeFinalizeAsyncCalls(options: { blocking?: boolean; noDist?: boolean } = {}): Promise<number[]> {
    const finalized: number[] = [];
    while (this.calls.length > 0) {
      const call = this.calls[0];
      if (options.blocking === true) await call.settled;
      let done = call.done ? 1 : 0;
      if (options.noDist !== true) done = await this.agreement.allReduceMin(done);
      if (done !== 1) break;
      await call.settled;
      this.calls.shift();
      if (call.error !== undefined) {
        throw call.error instanceof CheckpointSaveError ? call.error : new CheckpointSaveError(`Asynchronous call ${call.idx} failed: ${describeError(call.error)}`, { cause: call.error });
      }
      for (const fn of call.request.finalizeFns) await fn();
      finalized.push(call.idx);
    }
    return finalized;
  }

  /** Finalizes what is pending (unless `abort`), then stops the writer thread; a later request starts it again. */
  async close(options: { abort?: boolean } = {}): Promise<void> {
    if (options.abort !== true) await this.maybeFinalizeAsyncCalls({ blocking: true, noDist: true });
    else this.calls.length = 0;
    await this.caller.close(options);
  }
}
