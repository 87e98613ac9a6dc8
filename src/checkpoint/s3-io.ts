import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CheckpointError, CheckpointLoadError, CheckpointSaveError, CheckpointValidationError, describeError } from '../errors/index.js';
import { crc32, crcHex } from './crc32.js';
import type { CheckpointLoadConfig } from './load-config.js';
import { COMMIT_FILE, FORMAT_NAME, MANIFEST_FILE, MAX_MANIFEST_BYTES, parseCommit, parseManifest, type Manifest } from './manifest.js';
import { s3KeyProblem } from '../config/index.js';
import { isValidName } from './names.js';
import { normalizedPrefix, type S3Settings } from './s3-settings.js';
export { normalizedPrefix, type S3Settings };
import { buildManifest, type CheckpointPlan, type PlannedFile, type WrittenChecksums } from './plan.js';
import type { StateValue } from './state-dict.js';
import { assembleState, checkManifestBounds } from './verify.js';

const CHUNK = 8 * 1024 * 1024;
const MIN_PART = 5 * 1024 * 1024;

export function makeS3Client(settings: S3Settings): S3Client {
  const timeout = settings.requestTimeoutMs ?? 60_000;
  const config: S3ClientConfig = {
    region: settings.region ?? 'us-east-1',
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.credentials,
    maxAttempts: settings.maxAttempts ?? 3,
    requestChecksumCalculation: settings.requestChecksumCalculation ?? 'WHEN_REQUIRED',
    responseChecksumValidation: settings.requestChecksumCalculation ?? 'WHEN_REQUIRED',
    // throwOnRequestTimeout: without it the SDK only logs that a request is late and waits on for ever (a server
    // that stopped answering hung every save, and close() with it); socketTimeout covers a body that stalls
    // after the response headers came.
    requestHandler: { requestTimeout: timeout, socketTimeout: timeout, throwOnRequestTimeout: true, connectionTimeout: Math.min(10_000, timeout) },
  };
  return new S3Client(config);
}

/** Every object key is checked as the prefix is (src/config's one rule): no key may leave the prefix. */
function keyOf(settings: S3Settings, name: string, file: string): string {
  const key = `${normalizedPrefix(settings)}${name}/${file}`;
  const problem = s3KeyProblem(key);
  if (problem !== undefined) throw new CheckpointValidationError(`Object key ${JSON.stringify(key)} ${problem}`, { path: `s3://${settings.bucket}/${key}`, tier: 'S3' });
  return key;
}

function where(settings: S3Settings, name: string): string {
  return `s3://${settings.bucket}/${normalizedPrefix(settings)}${name}`;
}

/** The server a request goes to, for messages: the endpoint URL, or AWS and its region. */
export function endpointOf(settings: S3Settings): string {
  return settings.endpoint ?? `AWS S3 (${settings.region ?? 'us-east-1'})`;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

function* fileChunks(file: PlannedFile, sources: Uint8Array[], sums: WrittenChecksums): Generator<Buffer> {
  sums.header.set(file.name, crcHex(crc32(file.header)));
  yield Buffer.from(file.header.buffer, file.header.byteOffset, file.header.length);
  for (const t of file.tensors) {
    const src = sources[t.source];
    let crc = 0;
    for (let off = 0; off < src.length; off += CHUNK) {
      const chunk = src.subarray(off, Math.min(src.length, off + CHUNK));
      crc = crc32(chunk, crc);
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    sums.tensor.set(t.id, crcHex(crc));
  }
}

/**
 * Uploads a checkpoint: an old marker of the same name is removed first, then the data objects (multipart
 * above one part), then the manifest, and the commit marker last. A failure at any point leaves no marker.
 */
export async function writeS3Checkpoint(settings: S3Settings, name: string, plan: CheckpointPlan, sources: Uint8Array[], client = makeS3Client(settings)): Promise<string> {
  const at = where(settings, name);
  try {
    await client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: keyOf(settings, name, COMMIT_FILE) }));
    const sums: WrittenChecksums = { header: new Map(), tensor: new Map() };
    for (const f of plan.files) {
      const upload = new Upload({
        client,
        params: { Bucket: settings.bucket, Key: keyOf(settings, name, f.name), Body: Readable.from(fileChunks(f, sources, sums)), ContentType: 'application/octet-stream' },
        partSize: Math.max(MIN_PART, settings.partSize ?? CHUNK),
        queueSize: settings.queueSize ?? 4,
        leavePartsOnError: false,
      });
      await upload.done();
    }
    const manifest = Buffer.from(JSON.stringify(buildManifest(plan, sums)), 'utf8');
    await client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: keyOf(settings, name, MANIFEST_FILE), Body: manifest, ContentType: 'application/json' }));
    const marker = { format: FORMAT_NAME, step: plan.step, manifestBytes: manifest.length, manifestCrc32: crcHex(crc32(manifest)) };
    await client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: keyOf(settings, name, COMMIT_FILE), Body: JSON.stringify(marker), ContentType: 'application/json' }));
    return at;
  } catch (err) {
    throw new CheckpointSaveError(`Could not upload checkpoint ${name} to ${endpointOf(settings)}: ${describeError(err)}`, { path: at, tier: 'S3', cause: err });
  }
}

async function readBody(body: unknown, size: number, file: string): Promise<Uint8Array> {
  const out = new Uint8Array(new ArrayBuffer(size));
  let at = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    if (at + chunk.length > size) {
      (body as { destroy?: () => void }).destroy?.();
      throw new CheckpointValidationError(`${file} is longer than its declared ${size} bytes`, { path: file });
    }
    out.set(chunk, at);
    at += chunk.length;
  }
  if (at !== size) throw new CheckpointLoadError(`${file} ended after ${at} of ${size} bytes`, { path: file, tier: 'S3' });
  return out;
}

async function getObject(client: S3Client, settings: S3Settings, key: string, maxBytes: number, expected?: number): Promise<Uint8Array> {
  const file = `s3://${settings.bucket}/${key}`;
  const res = await client.send(new GetObjectCommand({ Bucket: settings.bucket, Key: key }));
  const size = res.ContentLength ?? -1;
  if (size < 0 || size > maxBytes || (expected !== undefined && size !== expected)) {
    (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
    throw new CheckpointValidationError(`${key} is ${size} bytes, expected ${expected ?? `at most ${maxBytes}`}`, { path: file, tier: 'S3' });
  }
  return readBody(res.Body, size, file);
}

export async function readS3Manifest(settings: S3Settings, name: string, client: S3Client): Promise<Manifest> {
  const marker = parseCommit(await getObject(client, settings, keyOf(settings, name, COMMIT_FILE), 4096), `${where(settings, name)}/${COMMIT_FILE}`);
  const bytes = await getObject(client, settings, keyOf(settings, name, MANIFEST_FILE), MAX_MANIFEST_BYTES, marker.manifestBytes);
  if (crcHex(crc32(bytes)) !== marker.manifestCrc32) throw new CheckpointValidationError('The manifest does not match its commit marker', { path: `${where(settings, name)}/${MANIFEST_FILE}`, tier: 'S3' });
  const manifest = parseManifest(bytes, `${where(settings, name)}/${MANIFEST_FILE}`);
  if (manifest.step !== marker.step) throw new CheckpointValidationError(`The manifest says step ${manifest.step}, the marker ${marker.step}`, { path: where(settings, name), tier: 'S3' });
  return manifest;
}

/** Downloads and verifies a checkpoint; object sizes are checked against the manifest before any data is fetched. */
export async function readS3Checkpoint(settings: S3Settings, name: string, config: CheckpointLoadConfig, client = makeS3Client(settings)): Promise<{ manifest: Manifest; state: StateValue }> {
  const at = where(settings, name);
  try {
    const manifest = await readS3Manifest(settings, name, client);
    const sizes = new Map<string, number>();
    for (const f of manifest.files) {
      const head = await client.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: keyOf(settings, name, f.name) }));
      sizes.set(f.name, head.ContentLength ?? -1);
    }
    checkManifestBounds(manifest, sizes, at);
    const data = new Map<string, Uint8Array>();
    for (const f of manifest.files) data.set(f.name, await getObject(client, settings, keyOf(settings, name, f.name), f.size, f.size));
    return { manifest, state: assembleState(manifest, data, config, at) };
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    if (isNotFound(err)) throw new CheckpointLoadError(`Checkpoint ${name} not found (or not committed)`, { path: at, tier: 'S3', cause: err });
    throw new CheckpointLoadError(`Cannot read checkpoint ${name} from ${endpointOf(settings)}: ${describeError(err)}`, { path: at, tier: 'S3', cause: err });
  }
}

/** Names of committed checkpoints under the prefix (those with a marker), following every listing page. */
export async function listS3Checkpoints(settings: S3Settings, client: S3Client): Promise<string[]> {
  const prefix = normalizedPrefix(settings);
  const names: string[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(new ListObjectsV2Command({ Bucket: settings.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: settings.listPageSize ?? 1000 }));
    for (const o of res.Contents ?? []) {
      const rest = (o.Key ?? '').slice(prefix.length);
      const parts = rest.split('/');
      if (parts.length === 2 && parts[1] === COMMIT_FILE && isValidName(parts[0])) names.push(parts[0]);
    }
    token = res.IsTruncated === true ? res.NextContinuationToken : undefined;
  } while (token !== undefined);
  return names;
}

/** The step a checkpoint's commit marker records; null when it has none or it is not a marker (the load reports it). */
export async function readS3MarkerStep(settings: S3Settings, name: string, client: S3Client): Promise<number | null> {
  try {
    return parseCommit(await getObject(client, settings, keyOf(settings, name, COMMIT_FILE), 4096), `${where(settings, name)}/${COMMIT_FILE}`).step;
  } catch (err) {
    if (err instanceof CheckpointValidationError || isNotFound(err)) return null;
    throw err;
  }
}

export async function s3Exists(settings: S3Settings, name: string, client: S3Client): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: keyOf(settings, name, COMMIT_FILE) }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Deletes the marker first, so that a half-deleted checkpoint is never taken for a whole one. */
export async function deleteS3Checkpoint(settings: S3Settings, name: string, client: S3Client): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: keyOf(settings, name, COMMIT_FILE) }));
  const prefix = `${normalizedPrefix(settings)}${name}/`;
  let token: string | undefined;
  do {
    const res = await client.send(new ListObjectsV2Command({ Bucket: settings.bucket, Prefix: prefix, ContinuationToken: token }));
    await Promise.all((res.Contents ?? []).map((o) => client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: o.Key }))));
    token = res.IsTruncated === true ? res.NextContinuationToken : undefined;
  } while (token !== undefined);
}
