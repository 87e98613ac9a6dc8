import type { CheckpointPlan } from './plan.js';
import type { S3Settings } from './s3-settings.js';
import type { WriterFunction } from './writer-function.js';

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

/** A call of a named function on the writer thread (an AsyncRequest): `preload` first, its result `fn`'s arguments. */
export interface CallJob {
  fn: WriterFunction;
  args: unknown[];
  preload?: WriterFunction;
}

export type WorkerRequest = ({ kind: 'write' } & WriteJob & { id: number }) | ({ kind: 'call' } & CallJob & { id: number });

export type WorkerReply = { id: number; ok: true; value: unknown; ms: number } | { id: number; ok: false; name: string; message: string; code?: string; tier?: string; path?: string };
