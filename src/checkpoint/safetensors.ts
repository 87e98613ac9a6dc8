import { CheckpointValidationError } from '../errors/index.js';
import { DTYPES, isDtype, type Dtype } from './dtypes.js';
import { elementCount } from './tensor.js';

/**
 * The safetensors layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
 * N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}` padded with
 * spaces to a multiple of 8, then the data, every byte of which belongs to exactly one tensor.
 */
export interface SafetensorsEntry {
  key: string;
  dtype: Dtype;
  shape: number[];
  /** Relative to the start of the data section. */
  begin: number;
  end: number;
}

/** Header bytes a reader rejects above (the same bound the reference implementation uses). */
export const MAX_HEADER_BYTES = 100_000_000;

export function encodeHeader(entries: readonly SafetensorsEntry[], metadata: Record<string, string>): Uint8Array {
  const obj: Record<string, unknown> = { __metadata__: metadata };
  for (const e of entries) obj[e.key] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  const json = Buffer.from(JSON.stringify(obj), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export interface ParsedHeader {
  headerBytes: number;
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** Reads the 8-byte length prefix; throws if it cannot fit in a file of `fileSize` bytes. */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (prefix.length < 8 || fileSize < 8) throw new CheckpointValidationError(`${file} is shorter than a safetensors header (${fileSize} bytes)`, { path: file });
  const n = Buffer.from(prefix.buffer, prefix.byteOffset, 8).readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
    throw new CheckpointValidationError(`${file} declares a ${n}-byte safetensors header, more than the file (${fileSize} bytes) or the ${MAX_HEADER_BYTES}-byte limit holds`, { path: file });
  }
  return Number(n);
}

/** Parses and checks a header: known dtypes, whole shapes, offsets matching shapes, data covered with no holes or overlaps. */
export function parseHeader(json: Uint8Array, dataBytes: number, file: string): ParsedHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.length).toString('utf8'));
  } catch (err) {
    throw new CheckpointValidationError(`${file} has a safetensors header that is not JSON: ${(err as Error).message}`, { path: file });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new CheckpointValidationError(`${file} has a safetensors header that is not an object`, { path: file });
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (v === null || typeof v !== 'object' || Object.values(v).some((x) => typeof x !== 'string')) throw new CheckpointValidationError(`${file}: __metadata__ must map strings to strings`, { path: file });
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const bad = (why: string): never => {
      throw new CheckpointValidationError(`${file}: tensor "${key}" ${why}`, { path: file, invalidKeys: [key] });
    };
    if (e === null || typeof e !== 'object') bad('is not an object');
    if (!isDtype(e!.dtype)) bad(`has unknown dtype ${JSON.stringify(e!.dtype)}`);
    const shape = e!.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) bad('has an invalid shape');
    const off = e!.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) bad('has invalid data_offsets');
    const [begin, end] = off as number[];
    const dtype = e!.dtype as Dtype;
    const count = elementCount(shape as number[]);
    if (!Number.isSafeInteger(count * DTYPES[dtype].bytes) || end < begin || end - begin !== count * DTYPES[dtype].bytes) {
      bad(`declares shape [${(shape as number[]).join(', ')}] of ${dtype} but ${end - begin} bytes`);
    }
    if (end > dataBytes) bad(`ends at byte ${end}, past the end of the data (${dataBytes} bytes)`);
    entries.set(key, { key, dtype, shape: shape as number[], begin, end });
  }
  const ranges = [...entries.values()].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  let at = 0;
  for (const r of ranges) {
    if (r.begin !== at) throw new CheckpointValidationError(`${file}: tensor "${r.key}" starts at ${r.begin}, expected ${at} (hole or overlap in the data)`, { path: file, invalidKeys: [r.key] });
    at = r.end;
  }
  if (at !== dataBytes) throw new CheckpointValidationError(`${file}: tensors cover ${at} of ${dataBytes} data bytes`, { path: file });
  return { headerBytes: 8 + json.length, entries, metadata };
}
