import { CheckpointValidationError } from '../errors/index.js';
import { crc32, crcHex } from './crc32.js';
import { DTYPES, viewAs } from './dtypes.js';
import type { CheckpointLoadConfig } from './load-config.js';
import type { Manifest } from './manifest.js';
import { headerLength, parseHeader } from './safetensors.js';
import { decodeState, type StateValue } from './state-dict.js';
import { elementCount, type Tensor } from './tensor.js';

/**
 * Checks everything the manifest claims against itself and against the sizes of the files as found, before any
 * data is read or any buffer sized from the manifest is allocated: a lying manifest costs nothing.
 */
export function checkManifestBounds(manifest: Manifest, actualSizes: Map<string, number>, where: string): void {
  const files = new Map(manifest.files.map((f) => [f.name, f]));
  if (files.size !== manifest.files.length) throw new CheckpointValidationError('The manifest lists a file twice', { path: where });
  for (const f of manifest.files) {
    const actual = actualSizes.get(f.name);
    if (actual === undefined) throw new CheckpointValidationError(`Data file ${f.name} is missing`, { path: `${where}/${f.name}` });
    if (actual !== f.size) throw new CheckpointValidationError(`Data file ${f.name} is ${actual} bytes, the manifest says ${f.size} (truncated or replaced)`, { path: `${where}/${f.name}` });
    if (f.headerBytes < 8 || f.headerBytes > f.size) throw new CheckpointValidationError(`Data file ${f.name}: header size ${f.headerBytes} does not fit the file`, { path: `${where}/${f.name}` });
  }
  for (const [id, t] of Object.entries(manifest.tensors)) {
    const f = files.get(t.file);
    if (f === undefined) throw new CheckpointValidationError(`Tensor "${id}" points to ${t.file}, which the manifest does not list`, { path: where, invalidKeys: [id] });
    const [begin, end] = t.byteRange;
    if (begin < f.headerBytes || end < begin || end > f.size) {
      throw new CheckpointValidationError(`Tensor "${id}" claims bytes ${begin}-${end} of ${t.file}, outside its data (${f.headerBytes}-${f.size})`, { path: `${where}/${t.file}`, invalidKeys: [id] });
    }
    const bytes = elementCount(t.shape) * DTYPES[t.dtype as keyof typeof DTYPES].bytes;
    if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
      throw new CheckpointValidationError(`Tensor "${id}" has shape [${t.shape.join(', ')}] of ${t.dtype}, which is not its ${end - begin} bytes`, { path: `${where}/${t.file}`, invalidKeys: [id] });
    }
  }
}

/** Builds the state from the files' bytes, checking each header against the manifest and every checksum. */
export function assembleState(manifest: Manifest, data: Map<string, Uint8Array>, config: CheckpointLoadConfig, where: string): StateValue {
  const verify = config.verifyChecksums;
  if (!verify) config.warn(`checksums of ${where} are not verified (safeMode off): corrupt data would load unnoticed`);
  for (const f of manifest.files) {
    const bytes = data.get(f.name)!;
    const at = `${where}/${f.name}`;
    const n = headerLength(bytes.subarray(0, 8), bytes.length, at);
    if (8 + n !== f.headerBytes) throw new CheckpointValidationError(`${f.name}: header is ${8 + n} bytes, the manifest says ${f.headerBytes}`, { path: at });
    if (verify && crcHex(crc32(bytes.subarray(0, f.headerBytes))) !== f.headerCrc32) {
      throw new CheckpointValidationError(`${f.name}: header checksum mismatch (corrupt file)`, { path: at });
    }
    const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length - f.headerBytes, at);
    const mine = Object.entries(manifest.tensors).filter(([, t]) => t.file === f.name);
    if (mine.length !== header.entries.size) throw new CheckpointValidationError(`${f.name} holds ${header.entries.size} tensors, the manifest lists ${mine.length}`, { path: at });
    for (const [id, t] of mine) {
      const e = header.entries.get(t.key);
      if (e === undefined || e.dtype !== t.dtype || e.begin + f.headerBytes !== t.byteRange[0] || e.end + f.headerBytes !== t.byteRange[1] || e.shape.join() !== t.shape.join()) {
        throw new CheckpointValidationError(`${f.name}: tensor "${id}" differs between the manifest and the file header`, { path: at, invalidKeys: [id] });
      }
    }
  }
  const tensors = new Map<string, Tensor>();
  for (const [id, t] of Object.entries(manifest.tensors)) {
    const bytes = data.get(t.file)!;
    const [begin, end] = t.byteRange;
    const slice = bytes.subarray(begin, end);
    if (verify && crcHex(crc32(slice)) !== t.crc32) {
      throw new CheckpointValidationError(`Checksum mismatch in tensor "${id}" (bytes ${begin}-${end} of ${t.file}): the data is corrupt`, { path: `${where}/${t.file}`, invalidKeys: [id] });
    }
    const dtype = t.dtype as keyof typeof DTYPES;
    tensors.set(id, { dtype, shape: [...t.shape], data: viewAs(dtype, bytes.buffer, bytes.byteOffset + begin, end - begin) });
  }
  return decodeState(manifest.state, (id) => {
    const t = tensors.get(id);
    if (t === undefined) throw new CheckpointValidationError(`The manifest state refers to tensor "${id}", which it does not list`, { path: where, invalidKeys: [id] });
    return t;
  });
}
