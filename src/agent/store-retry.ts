/**
 * A store call whose outcome decides what the job does next (count a restart, record the root cause,
 * read the restart count) is never swallowed: it is tried a few times, each try interruptible by a stop
 * signal, and then fails with a DistributedSetupError that says what could not be done and why.
 */
import { DistributedSetupError, describeError } from '../errors/index.js';
import { InterruptedError, type AgentSignals } from './agent-signals.js';
import { StoredRecordError } from './job-record.js';

export interface StoreRetryOptions {
  signals: AgentSignals;
  /** Tries in all (default 3). */
  attempts?: number;
  /** Pause before the second try, doubled after each (default 500 ms). */
  delayMs?: number;
  log?: (line: string) => void;
}

/** Run `fn`, retried on store errors; `what` completes "the store could not be reached to ...". */
export async function withStoreRetry<T>(what: string, fn: () => Promise<T>, o: StoreRetryOptions): Promise<T> {
  const attempts = o.attempts ?? 3;
  let delay = o.delayMs ?? 500;
  let last: unknown;
  for (let i = 1; i <= attempts; i++) {
    try {
      return await o.signals.interruptible(fn());
    } catch (err) {
      // A stop signal, or data that no retry will mend, ends it at once.
      if (err instanceof InterruptedError || err instanceof StoredRecordError) throw err;
      last = err;
      if (i === attempts) break;
      o.log?.(`the store failed to ${what} (try ${i} of ${attempts}): ${describeError(err)}; trying again in ${delay} ms`);
      await o.signals.interruptible(new Promise((r) => setTimeout(r, delay)));
      delay *= 2;
    }
  }
  throw new DistributedSetupError(`the store could not be reached to ${what} after ${attempts} tries: ${describeError(last)}`, {
    cause: last,
    suggestions: ['The job cannot go on without its store: check the agent hosting it (or etcd), then start the job again; its checkpoints are kept.'],
  });
}
