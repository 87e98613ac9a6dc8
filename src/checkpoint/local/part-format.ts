import { CheckpointValidationError } from '../../errors/index.js';
import { crc32, crcHex } from '../crc32.js';
import { DTYPES, isDtype, viewAs, type Dtype } from '../dtypes.js';
import { bytesOf, elementCount, type Tensor } from '../tensor.js';
import type { Json } from '../state-dict.js';
import { BasicTensorAwareStateDict, type TensorAwareStateDict } from './state-dict.js';

/**
 * One local checkpoint part in one file, data only (nothing in it is ever evaluated):
 *   "EHLOCAL1" | u32 LE header length | header JSON | u32 LE CRC-32 of the header | padding to 8 | tensor bytes
 * The header holds the iteration, the part's rank, the replication it was saved with, the non-tensor state,
 * and every tensor's dtype, shape, byte range and CRC-32. The same bytes are sent to the replicas.
 */
export const PART_MAGIC = Buffer.from('EHLOCAL1', 'latin1');
const PART_FORMAT = 'elastic-harness-local-part';
const PART_VERSION = 1;
/** A header larger than this is refused before it is parsed (a hostile length field). */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

export interface PartReplication {
  factor: number;
  jump: number;
}

export interface PartMeta {
  iteration: number;
  /** The rank whose state this is (the part id). */
  rank: number;
  worldSize: number;
  /** null: saved without replication. */
  replication: PartReplication | null;
}

interface PartTensor {
  id: string;
  dtype: Dtype;
  shape: number[];
  offset: number;
  length: number;
  crc: string;
}

interface PartHeader extends PartMeta {
  format: string;
  version: number;
  state: Json;
  tensors: PartTensor[];
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/**
 * Serializes a part into one buffer (the staging copy: training may change its tensors right after). With
 * `shared`, the buffer lives in a SharedArrayBuffer, so the writer thread gets it without a copy.
 */
export function encodePart(ta: TensorAwareStateDict, meta: PartMeta, shared = false): Uint8Array {
  const tensors: PartTensor[] = [];
  let payload = 0;
  for (const t of ta.tensors) {
    const length = t.data.byteLength;
    tensors.push({ id: t.id, dtype: t.dtype, shape: [...t.shape], offset: payload, length, crc: crcHex(crc32(bytesOf(t.data))) });
    payload = align8(payload + length);
  }
  const header: PartHeader = { format: PART_FORMAT, version: PART_VERSION, ...meta, state: ta.skeleton, tensors };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const dataStart = align8(PART_MAGIC.length + 4 + json.length + 4);
  const total = dataStart + payload;
  const out = shared ? new Uint8Array(new SharedArrayBuffer(total)) : new Uint8Array(total);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(PART_MAGIC, 0);
  view.setUint32(PART_MAGIC.length, json.length, true);
  out.set(json, PART_MAGIC.length + 4);
  view.setUint32(PART_MAGIC.length + 4 + json.length, crc32(json), true);
  ta.tensors.forEach((t, i) => out.set(bytesOf(t.data), dataStart + tensors[i].offset));
  return out;
}

function refuse(what: string, source: string): never {
  throw new CheckpointValidationError(`local checkpoint part ${source} is refused: ${what}`, {
    path: source,
    suggestions: ['This copy is corrupt or foreign; the manager takes another replica or the newest older iteration that is whole.'],
  });
}

function checkInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

/** Reads and checks a part's header (magic, length, CRC, fields); returns it and where the tensor bytes start. */
export function decodeHeader(bytes: Uint8Array, source: string): { header: PartHeader; dataStart: number } {
  if (bytes.length < PART_MAGIC.length + 8 || !Buffer.from(bytes.buffer, bytes.byteOffset, PART_MAGIC.length).equals(PART_MAGIC)) refuse('not a local checkpoint part (bad magic)', source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(PART_MAGIC.length, true);
  if (len > MAX_HEADER_BYTES || PART_MAGIC.length + 4 + len + 4 > bytes.length) refuse(`header length ${String(len)} does not fit in the ${String(bytes.length)}-byte file`, source);
  const json = bytes.subarray(PART_MAGIC.length + 4, PART_MAGIC.length + 4 + len);
  if (view.getUint32(PART_MAGIC.length + 4 + len, true) !== crc32(json)) refuse('header checksum mismatch', source);
  let header: PartHeader;
  try {
    header = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.length).toString('utf8')) as PartHeader;
  } catch {
    refuse('header is not JSON', source);
  }
  if (header === null || typeof header !== 'object' || header.format !== PART_FORMAT || header.version !== PART_VERSION) refuse(`unknown format ${JSON.stringify((header as Partial<PartHeader> | null)?.format)}`, source);
  if (!checkInt(header.iteration, 0) || !checkInt(header.rank, 0) || !checkInt(header.worldSize, 1) || header.rank >= header.worldSize) refuse('bad iteration, rank or world size in the header', source);
  const r = header.replication;
  if (r !== null && (r === undefined || typeof r !== 'object' || !checkInt(r.factor, 1) || !checkInt(r.jump, 1))) refuse('bad replication parameters in the header', source);
  if (!Array.isArray(header.tensors)) refuse('no tensor table', source);
  return { header, dataStart: align8(PART_MAGIC.length + 4 + len + 4) };
}

/** The metadata of a part, from its header only (checked, but the tensor bytes are not read). */
export function readPartMeta(headerBytes: Uint8Array, source: string): PartMeta {
  const { header } = decodeHeader(headerBytes, source);
  return { iteration: header.iteration, rank: header.rank, worldSize: header.worldSize, replication: header.replication };
}

/** Checks every byte of a part (header and tensor checksums, bounds, shapes) and rebuilds its state. */
export function decodePart(bytes: Uint8Array, source: string): { meta: PartMeta; state: BasicTensorAwareStateDict } {
  const { header, dataStart } = decodeHeader(bytes, source);
  const tensors = new Map<string, Tensor>();
  for (const t of header.tensors) {
    if (t === null || typeof t !== 'object' || typeof t.id !== 'string' || !isDtype(t.dtype) || !Array.isArray(t.shape) || !t.shape.every((d) => checkInt(d, 0))) refuse('bad tensor entry', source);
    if (!checkInt(t.offset, 0) || !checkInt(t.length, 0) || dataStart + t.offset + t.length > bytes.length) refuse(`tensor "${t.id}" lies outside the file`, source);
    if (elementCount(t.shape) * DTYPES[t.dtype].bytes !== t.length) refuse(`tensor "${t.id}" has ${String(t.length)} bytes for shape [${t.shape.join(', ')}] of ${t.dtype}`, source);
    const data = bytes.subarray(dataStart + t.offset, dataStart + t.offset + t.length);
    if (crcHex(crc32(data)) !== t.crc) refuse(`tensor "${t.id}" fails its checksum`, source);
    if (tensors.has(t.id)) refuse(`tensor "${t.id}" appears twice`, source);
    tensors.set(t.id, { dtype: t.dtype, shape: t.shape, data: viewAs(t.dtype, bytes.buffer, bytes.byteOffset + dataStart + t.offset, t.length) });
  }
  const state = BasicTensorAwareStateDict.fromParts(header.state, tensors);
  return { meta: { iteration: header.iteration, rank: header.rank, worldSize: header.worldSize, replication: header.replication }, state };
}
