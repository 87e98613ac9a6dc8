import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface S3Handle {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The settings an S3 client needs here (path-style, the fixed s3rver credentials). */
  settings: { bucket: string; endpoint: string; region: string; forcePathStyle: true; credentials: { accessKeyId: string; secretAccessKey: string } };
  pid: number;
  /** Where s3rver keeps the objects. */
  directory: string;
  /** SIGKILL the server at once (a crash mid-request); `stop()` still cleans up. */
  kill(): void;
  /** SIGTERM, wait for the exit (SIGKILL after 5 s), remove its directory (unless it was passed in). Safe to call twice. */
  stop(): Promise<void>;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

const SERVER = `
const S3rver = require('s3rver');
const [dir, bucket] = process.argv.slice(1);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
server.run().then((addr) => process.stdout.write(JSON.stringify({ port: addr.port }) + '\\n'), (err) => { console.error(err); process.exit(1); });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/**
 * A real s3rver in a child process (REAL-PARTS.md), on a free loopback port, in a fresh directory, with one
 * bucket (an existing `directory` keeps its objects: a restart after a kill). The child runs with --openssl-legacy-provider, which s3rver's paged listing needs; being a process
 * of its own, a test can kill it in the middle of an upload.
 */
export async function startS3(options: { bucket?: string; readyTimeoutMs?: number; directory?: string } = {}): Promise<S3Handle> {
  const bucket = options.bucket ?? 'eh-test';
  // A directory passed in (e.g. to restart a killed server on its data) is the caller's to remove.
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(path.join(tmpdir(), 'eh-s3rver-')));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER, directory, bucket], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
      live.delete(child);
      if (ownDirectory) await rm(directory, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver not ready within ${options.readyTimeoutMs ?? 15_000} ms: ${stderr}`)), options.readyTimeoutMs ?? 15_000);
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n')) {
          clearTimeout(timer);
          try {
            resolve((JSON.parse(line) as { port: number }).port);
          } catch (err) {
            reject(err as Error);
          }
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with ${code}: ${stderr}`));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const region = 'us-east-1';
    const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
    return {
      endpoint,
      port,
      bucket,
      region,
      credentials,
      settings: { bucket, endpoint, region, forcePathStyle: true, credentials },
      pid: child.pid!,
      directory,
      kill: () => void child.kill('SIGKILL'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
