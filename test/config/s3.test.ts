import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s3KeyProblem, validateConfig, validateS3Access, type S3AccessOptions } from '../../src/config/index.js';

// s3rver ships no types; only what this test uses.
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
let server: S3rverInstance;
let dir: string;
let endpoint: string;
const s3 = (o: Partial<S3AccessOptions> = {}): S3AccessOptions => ({ bucket: 'ckpt-bucket', endpoint, credentials, checksums: 'WHEN_REQUIRED', timeoutMs: 5000, ...o });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eh-config-s3-'));
  server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, resetOnClose: true, configureBuckets: [{ name: 'ckpt-bucket' }] });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('an existing bucket is valid', async () => {
  const r = await validateS3Access(s3());
  assert.deepEqual(r.errors, []);
  assert.equal(r.valid, true);
});

test('a missing bucket is invalid with a clear message', async () => {
  const r = await validateS3Access(s3({ bucket: 'no-such-bucket' }));
  assert.equal(r.valid, false);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /S3 bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+ \(HeadBucket: 404\)/);
  assert.match(r.errors[0], /Create it, or fix checkpoint\.s3_bucket/);
  assert.equal(r.issues[0].path, 'checkpoint.s3_bucket');
});

test('a refused connection is invalid quickly, naming the endpoint', async () => {
  const closed = createServer();
  await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((res) => closed.close(() => res()));
  const t0 = Date.now();
  const r = await validateS3Access(s3({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 8000 }));
  assert.equal(r.valid, false);
  assert.match(r.errors[0], new RegExp(`Cannot reach S3 endpoint http://127.0.0.1:${port} \\(ECONNREFUSED\\)`));
  assert.ok(Date.now() - t0 < 6000, `took ${Date.now() - t0} ms`);
});

test('an endpoint that accepts but never answers is invalid within the time bound', async () => {
  const sockets = new Set<Socket>();
  const silent: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
  const port = (silent.address() as { port: number }).port;
  try {
    const t0 = Date.now();
    const r = await validateS3Access(s3({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1000 }));
    const took = Date.now() - t0;
    assert.equal(r.valid, false);
    assert.match(r.errors[0], /did not answer within 1000 ms/);
    assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => silent.close(() => res()));
  }
});

test('bad names and endpoints are reported without a request', async () => {
  assert.match((await validateS3Access(s3({ bucket: 'Bad_Name' }))).errors[0], /bucket name "Bad_Name" is not valid/);
  assert.match((await validateS3Access(s3({ endpoint: 'not a url' }))).errors[0], /endpoint "not a url" is not an http\(s\) URL/);
  assert.match((await validateS3Access(s3({ timeoutMs: 0 }))).errors[0], /timeoutMs/);
  assert.match((await validateS3Access(undefined as never)).errors[0], /bucket name undefined is not valid/);
  const odd = await validateS3Access(s3({ maxAttempts: Number.NaN, region: '' }));
  assert.equal(odd.valid, false, 'odd client options give a result, not a throw');
});

test('validateConfig({validateS3}) checks the bucket the config names', async () => {
  const config = (bucket: string): unknown => ({ checkpoint: { s3_bucket: bucket, s3_endpoint: endpoint } });
  const opts = { validateS3: true, s3: { credentials, checksums: 'WHEN_REQUIRED' as const, timeoutMs: 5000 } };
  const ok = await validateConfig(config('ckpt-bucket'), opts);
  assert.equal(ok.valid, true, ok.errors.join('; '));
  assert.equal(ok.config?.checkpoint.s3_bucket, 'ckpt-bucket');
  const missing = await validateConfig(config('gone-bucket'), opts);
  assert.equal(missing.valid, false);
  assert.equal(missing.config, undefined);
  assert.match(missing.errors[0], /"gone-bucket" does not exist/);
  const noCheck = await validateConfig(config('gone-bucket'));
  assert.equal(noCheck.valid, true, 'without validateS3 no request is made');
  const noBucket = await validateConfig({}, opts);
  assert.equal(noBucket.valid, true);
  assert.match(noBucket.warnings[0], /s3_bucket is not set/);
  const invalid = await validateConfig({ training: { lr: 0 }, checkpoint: { s3_bucket: 'gone-bucket', s3_endpoint: endpoint } }, opts);
  assert.deepEqual(invalid.errors, ['training.lr: must be > 0, got 0'], 'S3 is not checked for a config that is already invalid');
});

test('no credentials anywhere: invalid, saying how to provide them', async () => {
  const keys = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_WEB_IDENTITY_TOKEN_FILE'];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  for (const k of keys) delete process.env[k];
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials');
  process.env.AWS_CONFIG_FILE = join(dir, 'no-config');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  try {
    const r = await validateS3Access(s3({ credentials: undefined }));
    assert.equal(r.valid, false);
    assert.match(r.errors[0], /No S3 credentials found for bucket "ckpt-bucket".*AWS_ACCESS_KEY_ID/);
  } finally {
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});

test('checkpoint.s3_prefix with "..", ".", empty segments or a leading "/" is an error of the validator, naming s3_prefix', async () => {
  for (const bad of ['../x', 'a/../b', './a', 'a//b', '/runs']) {
    const r = await validateConfig({ checkpoint: { s3_prefix: bad } });
    assert.equal(r.valid, false, bad);
    assert.equal(r.issues.find((i) => i.severity === 'error')?.path, 'checkpoint.s3_prefix', bad);
    assert.match(r.errors[0], /s3_prefix/);
  }
  for (const good of ['', 'runs/r1/', 'runs']) assert.equal((await validateConfig({ checkpoint: { s3_prefix: good } })).valid, true, good);
  assert.equal(s3KeyProblem('a/b/COMMITTED'), undefined);
  assert.match(s3KeyProblem('a/../b') ?? '', /".." segment/);
});
