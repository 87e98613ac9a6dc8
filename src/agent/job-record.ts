/**
 * What the agents of one job keep in its store, beside the rendezvous: the outcome, the first failure
 * (the root cause every agent's report names), the claim of a failed round's restart, the count of
 * finished nodes. Data read back is validated before use: the store is shared, and a record from
 * another version or a damaged value must not pass for a FailureRecord.
 */
import { z } from 'zod';
import type { Store } from '../rendezvous/index.js';
import type { FailureRecord } from './failure-report.js';

const errorRecordSchema = z.object({
  message: z.string(),
  name: z.string(),
  stack: z.string(),
  rank: z.number().int().optional(),
  time: z.string(),
  pid: z.number().int(),
});

export const failureRecordSchema = z.object({
  reason: z.enum(['exit', 'signal', 'hang', 'startup']),
  rank: z.number().int().nonnegative(),
  localRank: z.number().int().nonnegative(),
  nodeId: z.string(),
  nodeRank: z.number().int().nonnegative(),
  round: z.number().int(),
  attempt: z.number().int().nonnegative(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  time: z.string(),
  errorFile: z.string(),
  error: errorRecordSchema.optional(),
  stderrTail: z.array(z.string()),
  reportPath: z.string().optional(),
  startupMessage: z.string().optional(),
});

/** A stored value that is not what the key holds: named, so that the report says which key and why. */
export class StoredRecordError extends Error {
  constructor(key: string, problem: string) {
    super(`the store's ${key} is not a valid record: ${problem}`);
    this.name = 'StoredRecordError';
  }
}

/** Parse `raw` (JSON) with `schema`; a StoredRecordError naming `key` when it does not fit. */
export function parseStored<T>(key: string, raw: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new StoredRecordError(key, `not JSON (${(err as Error).message})`);
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new StoredRecordError(key, r.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; '));
  return r.data;
}

export class JobRecord {
  constructor(private readonly store: Store, private readonly runId: string) {}

  key(k: string): string {
    return `${this.runId}/eh/${k}`;
  }

  /** 'succeeded' or 'failed' once some agent has ended the job. */
  outcome(): Promise<string | undefined> {
    return this.store.get(this.key('outcome'));
  }

  setOutcome(o: 'succeeded' | 'failed'): Promise<void> {
    return this.store.set(this.key('outcome'), o);
  }

  /** The job's first failure, undefined when none was recorded. A stored value that is not a FailureRecord is an error. */
  async firstFailure(): Promise<FailureRecord | undefined> {
    const raw = await this.store.get(this.key('first-failure'));
    return raw === undefined ? undefined : parseStored('first-failure', raw, failureRecordSchema);
  }

  /** Record `f` as the job's first failure unless one is recorded already (then that one stays). */
  async recordFailure(f: FailureRecord): Promise<void> {
    await this.store.compareAndSet(this.key('first-failure'), undefined, JSON.stringify(f));
  }

  /** Claim the restart of a failed round: true for the one agent that gets it. */
  async claimRestart(roundPrefix: string, nodeId: string): Promise<boolean> {
    return (await this.store.compareAndSet(`${roundPrefix}/eh/failure-claimed`, undefined, nodeId)).ok;
  }

  async countFinished(): Promise<void> {
    await this.store.add(this.key('nodes-finished'), 1);
  }

  async finishedCount(): Promise<number> {
    return Number((await this.store.get(this.key('nodes-finished'))) ?? '0');
  }
}
