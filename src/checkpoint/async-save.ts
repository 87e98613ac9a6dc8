import type { PersistentAsyncCaller } from './persistent-caller.js';
import { planCheckpoint } from './plan.js';
import { stage, type StagingPool } from './staging.js';
import type { StateValue } from './state-dict.js';
import type { PendingSave } from './tier.js';
import type { WriteJob, WriteTarget } from './worker-protocol.js';

export interface StagedWrite {
  /** Settles when the writer thread committed the checkpoint (or failed); the staging buffer is then returned. */
  run(): Promise<string>;
  release(): void;
  totalBytes: number;
  /** The write as plain data (what `run` posts to the writer thread). */
  job: WriteJob;
}

/**
 * Copies `tree` into a staging buffer (the only pause an asynchronous save causes) and returns a write that
 * the persistent writer thread performs from that buffer; `run` may be called again to retry.
 */
export async function stageWrite(tree: StateValue, step: number, worldSize: number | null, target: WriteTarget, name: string, pool: StagingPool, caller: PersistentAsyncCaller): Promise<StagedWrite> {
  const { plan, sources } = planCheckpoint(tree, { step, worldSize });
  const staged = await stage(plan, sources, pool);
  const job: WriteJob = { target, name, plan, buffer: staged.buffer, offsets: staged.offsets, lengths: staged.lengths };
  return { totalBytes: plan.totalBytes, release: staged.release, job, run: () => caller.run(job) };
}

/** `saveAsync` of every backend that stages: stage now, write in the background, never an unhandled rejection. */
export function runStaged(write: StagedWrite, path: string): PendingSave {
  const done = write.run().finally(write.release);
  done.catch(() => undefined);
  return { path, done };
}
