import type { CheckpointPlan } from './plan.js';
import type { S3Settings } from './s3-settings.js';

/** Where a background write goes: plain data, posted to the writer thread. */
export type WriteTarget = { kind: 'local'; root: string; fsync?: boolean } | { kind: 's3'; settings: S3Settings };

export interface WriteJob {
  target: WriteTarget;
  name: string;
  plan: CheckpointPlan;
  /** Shared with the writer thread: it reads the staged bytes in place, no copy. */
  buffer: SharedArrayBuffer;
  offsets: number[];
  lengths: number[];
}

export interface WorkerRequest extends WriteJob {
  id: number;
}

export type WorkerReply = { id: number; ok: true; path: string; ms: number } | { id: number; ok: false; name: string; message: string; code?: string };
