/**
 * The persistent writer thread: serializes, checksums, writes, fsyncs and uploads staged checkpoints one
 * after the other, off the training thread, and runs the functions of AsyncRequests. It holds no state but
 * cached S3 clients, and dies with its process.
 */
import { parentPort } from 'node:worker_threads';
import { CheckpointError, ElasticTrainingError, describeError } from '../errors/index.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';
import type { WriterFunction } from './writer-function.js';
import { writeStaged } from './writer-jobs.js';

type Fn = (...args: unknown[]) => unknown;

async function resolve(f: WriterFunction): Promise<Fn> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(f.module)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`the writer thread cannot import ${f.module}: ${describeError(err)}`, { cause: err });
  }
  const fn = mod[f.exportName];
  if (typeof fn !== 'function') throw new Error(`${f.module} has no function export "${f.exportName}"`);
  return fn as Fn;
}

async function run(job: WorkerRequest): Promise<unknown> {
  if (job.kind === 'write') return writeStaged(job);
  let args = job.args;
  if (job.preload !== undefined) {
    const preloaded = await (await resolve(job.preload))(...args);
    if (!Array.isArray(preloaded)) throw new Error(`preloadFn ${job.preload.module}#${job.preload.exportName} must return the array of asyncFn's arguments, got ${typeof preloaded}`);
    args = preloaded;
  }
  return (await resolve(job.fn))(...args);
}

function failure(id: number, err: unknown): WorkerReply {
  // Our errors already name the checkpoint and tier in `problem`; the main thread rebuilds the error from it.
  const code = ((err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code) as string | undefined;
  let message = err instanceof ElasticTrainingError ? err.problem : describeError(err);
  let tier: string | undefined;
  let where: string | undefined;
  if (err instanceof CheckpointError) {
    // The main thread rebuilds the error with its tier and path, which put the same "[tier …, path]" back.
    tier = err.tier;
    where = err.path;
    const suffix = ` [${[tier !== undefined ? `tier ${tier}` : '', where ?? ''].filter((x) => x !== '').join(', ')}]`;
    if ((tier !== undefined || where !== undefined) && message.endsWith(suffix)) message = message.slice(0, -suffix.length);
  }
  return { id, ok: false, name: err instanceof Error ? err.name : 'Error', message, code: typeof code === 'string' ? code : undefined, tier, path: where };
}

let chain: Promise<void> = Promise.resolve();
parentPort?.on('message', (job: WorkerRequest) => {
  chain = chain.then(async () => {
    const t0 = performance.now();
    let reply: WorkerReply;
    try {
      reply = { id: job.id, ok: true, value: await run(job), ms: performance.now() - t0 };
    } catch (err) {
      reply = failure(job.id, err);
    }
    try {
      parentPort?.postMessage(reply);
    } catch (err) {
      // A result that cannot be cloned (a function, a class instance with private state) fails the call, not the thread.
      parentPort?.postMessage(failure(job.id, new Error(`the result of the call cannot be sent back to the main thread: ${describeError(err)}`)));
    }
  });
});
