/**
 * The persistent writer thread: serializes, checksums, writes, fsyncs and uploads staged checkpoints one
 * after the other, off the training thread. It holds no state but cached S3 clients, and dies with its process.
 */
import { parentPort } from 'node:worker_threads';
import { ElasticTrainingError, describeError } from '../errors/index.js';
import { writeLocalCheckpoint } from './local-write.js';
import { stagedSources } from './staging.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

type S3Module = typeof import('./s3-io.js');
let s3: Promise<S3Module> | undefined;
const clients = new Map<string, ReturnType<S3Module['makeS3Client']>>();

async function run(job: WorkerRequest): Promise<string> {
  const sources = stagedSources(job.buffer, job.offsets, job.lengths);
  if (job.target.kind === 'local') return writeLocalCheckpoint(job.target.root, job.name, job.plan, sources, { fsync: job.target.fsync });
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

let chain: Promise<void> = Promise.resolve();
parentPort?.on('message', (job: WorkerRequest) => {
  chain = chain.then(async () => {
    const t0 = performance.now();
    let reply: WorkerReply;
    try {
      reply = { id: job.id, ok: true, path: await run(job), ms: performance.now() - t0 };
    } catch (err) {
      // Our errors already name the checkpoint and tier in `problem`; the main thread rebuilds the error from it.
      const code = ((err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code) as string | undefined;
      reply = { id: job.id, ok: false, name: err instanceof Error ? err.name : 'Error', message: err instanceof ElasticTrainingError ? err.problem : describeError(err), code: typeof code === 'string' ? code : undefined };
    }
    parentPort?.postMessage(reply);
  });
});
