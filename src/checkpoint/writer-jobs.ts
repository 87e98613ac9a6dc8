/**
 * What the writer thread does with a staged checkpoint: write it to a directory or upload it. Also callable as a
 * WriterFunction (AsyncCheckpointer's requests name `writeStaged`).
 */
import { writeLocalCheckpoint } from './local-write.js';
import { stagedSources } from './staging.js';
import type { WriteJob } from './worker-protocol.js';

type S3Module = typeof import('./s3-io.js');
let s3: Promise<S3Module> | undefined;
const clients = new Map<string, ReturnType<S3Module['makeS3Client']>>();

export async function writeStaged(job: WriteJob): Promise<string> {
  const sources = stagedSources(job.buffer, job.offsets, job.lengths);
  if (job.target.kind === 'local') return writeLocalCheckpoint(job.target.root, job.name, job.plan, sources, { fsync: job.target.fsync });
  // Loaded on the first upload only; the clients are cached, one per set of settings.
  s3 ??= import('./s3-io.js');
  const mod = await s3;
  const key = JSON.stringify(job.target.settings);
  let client = clients.get(key);
  if (client === undefined) {
    client = mod.makeS3Client(job.target.settings);
    clients.set(key, client);
  }
  return mod.writeS3Checkpoint(job.target.settings, job.name, job.plan, sources, client);
}

/** This module, for naming writeStaged as a WriterFunction from source (tsx) or from the build. */
export const WRITER_JOBS_MODULE = import.meta.url;
