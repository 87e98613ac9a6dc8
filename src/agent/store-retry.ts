/**
 * A store call whose outcome decides what the job does next (count a restart, record the root cause,
 * read the restart count, join a round) is never swallowed, and never given up at the first network
 * hiccup. A store that cannot be reached (StoreUnavailableError: an outage, a frozen etcd, a lost
 * connection) is tried again with backoff for up to `outageMs`; any other error gets `attempts` tries.
 * Each try and pause is interruptible by a stop signal; in the end the call fails with a
 * DistributedSetupError that says what could not be done and why.
 */
import { DistributedSetupError, describeError } from '../errors/index.js';
import { StoreUnavailableError } from '../rendezvous/index.js';
import { InterruptedError, type AgentSignals } from './agent-signals.js';
import { StoredRecordError } from './job-record.js';

export interface StoreRetryOptions {
  signals: AgentSignals;
  /** Tries in all for errors other than an unreachable store (default 3). */
  attempts?: number;
  /** How long an unreachable store is waited for, in ms (default 0: `attempts` tries, as for any error). */
  outageMs?: number;
  /** Pause before the second try, doubled after each up to 2 s (default 500 ms). */
  delayMs?: number;
  /** Errors that are the answer, not a failure to get one (e.g. "the job is closed"): thrown at once. */
  isFinal?: (err: unknown) => boolean;
  log?: (line: string) => void;
}

const MAX_DELAY_MS = 2_000;

/** Run `fn`, retried on store errors; `what` completes "the store could not be reached to ...". */
export async function withStoreRetry<T>(what: string, fn: () => Promise<T>, o: StoreRetryOptions): Promise<T> {
  const attempts = o.attempts ?? 3;
  const outageMs = o.outageMs ?? 0;
  let delay = o.delayMs ?? 500;
  const started = Date.now();
  let last: unknown;
  let i = 0;
  for (;;) {
    i += 1;
    try {
      return await o.signals.interruptible(fn());
    } catch (err) {
      // A stop signal, data that no retry will mend, or a final answer ends it at once.
      if (err instanceof InterruptedError || err instanceof StoredRecordError || o.isFinal?.(err) === true) throw err;
      last = err;
      const outage = err instanceof StoreUnavailableError && Date.now() - started + delay < outageMs;
      if (!outage && i >= attempts) break;
      o.log?.(`the store failed to ${what} (try ${i}${outage ? `, ${Math.round((Date.now() - started) / 1000)} s of ${Math.round(outageMs / 1000)} s` : ` of ${attempts}`}): ${describeError(err)}; trying again in ${delay} ms`);
      await o.signals.interruptible(new Promise((r) => setTimeout(r, delay)));
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
  const span = last instanceof StoreUnavailableError && outageMs > 0 ? ` over ${Math.round((Date.now() - started) / 1000)} s` : '';
  throw new DistributedSetupError(`the store could not be reached to ${what} after ${i} tries${span}: ${describeError(last)}`, {
    cause: last,
    suggestions: ['The job cannot go on without its store: check the agent hosting it (or etcd), then start the job again; its checkpoints are kept.'],
  });
}
