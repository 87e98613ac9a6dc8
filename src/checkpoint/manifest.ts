import { z } from 'zod';
import { CheckpointValidationError } from '../errors/index.js';
import { DTYPE_NAMES } from './dtypes.js';
import type { Json } from './state-dict.js';

export const FORMAT_NAME = 'elastic-harness-checkpoint';
export const FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
/** Written last, after everything else is durable: a directory without it is not a checkpoint. */
export const COMMIT_FILE = 'COMMITTED';
/** Manifests larger than this are refused before being read. */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/** File names inside a checkpoint: one plain segment, never hidden, never `..`, never a path. */
export const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;
const fileName = z.string().regex(FILE_NAME).refine((s) => !s.includes('..'), 'must not contain ..');
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const crc = z.string().regex(/^[0-9a-f]{8}$/);

const json: z.ZodType<Json> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(json), z.record(z.string(), json)]));

export const manifestSchema = z.strictObject({
  format: z.literal(FORMAT_NAME),
  formatVersion: z.literal(FORMAT_VERSION),
  step: z.number().int().nonnegative(),
  worldSize: z.number().int().positive().nullable(),
  timestamp: z.number(),
  checksum: z.literal('crc32'),
  files: z.array(z.strictObject({ name: fileName, size, headerBytes: size, headerCrc32: crc })),
  tensors: z.record(
    z.string().min(1),
    z.strictObject({
      dtype: z.enum(DTYPE_NAMES as [string, ...string[]]),
      shape: z.array(size),
      file: fileName,
      key: z.string(),
      byteRange: z.tuple([size, size]),
      crc32: crc,
    }),
  ),
  state: json,
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestTensor = Manifest['tensors'][string];

export const commitSchema = z.strictObject({
  format: z.literal(FORMAT_NAME),
  step: z.number().int().nonnegative(),
  manifestBytes: size,
  manifestCrc32: crc,
});
export type CommitMarker = z.infer<typeof commitSchema>;

function parseJson(bytes: Uint8Array, what: string, where: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (err) {
    throw new CheckpointValidationError(`${what} is not valid JSON (${(err as Error).message})`, { path: where });
  }
}

function issues(err: z.ZodError): { text: string; keys: string[] } {
  const keys = err.issues.map((i) => i.path.join('.') || '(root)');
  const text = err.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return { text, keys };
}

/** Nesting allowed in the manifest's JSON: deeper input would only serve to exhaust the stack of a recursive walk. */
export const MAX_STATE_DEPTH = 512;

function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > MAX_STATE_DEPTH) return max;
    for (const x of Object.values(v)) stack.push([x, d + 1]);
  }
  return max;
}

export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  const raw = parseJson(bytes, 'The manifest', where);
  if (depthOf(raw) > MAX_STATE_DEPTH) throw new CheckpointValidationError(`The manifest is nested more than ${MAX_STATE_DEPTH} levels deep`, { path: where });
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const { text, keys } = issues(r.error);
    throw new CheckpointValidationError(`The manifest does not match the checkpoint schema: ${text}`, { path: where, invalidKeys: keys });
  }
  return r.data;
}

export function parseCommit(bytes: Uint8Array, where: string): CommitMarker {
  const r = commitSchema.safeParse(parseJson(bytes, 'The commit marker', where));
  if (!r.success) throw new CheckpointValidationError(`The commit marker is malformed: ${issues(r.error).text}`, { path: where });
  return r.data;
}
