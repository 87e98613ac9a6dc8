/**
 * The writer-thread side of an asynchronous local save: writes the dirty parts and records the outcome in a
 * shared status word instead of throwing, so that every rank still reaches the finalization, where the ranks
 * agree on success or failure together (a rank that threw would skip it and leave its peers waiting).
 */
import { writeNewFile } from './layout.js';

export const PART_WRITER_MODULE = import.meta.url;

export interface DirtyPart {
  file: string;
  bytes: Uint8Array;
}

/** status[0]: 0 running, 1 written, 2 failed; the failure's message goes to `message` (UTF-8, zero-padded). */
export async function writeDirtyParts(parts: DirtyPart[], fsync: boolean, status: SharedArrayBuffer, message: SharedArrayBuffer): Promise<void> {
  const word = new Int32Array(status);
  try {
    await Promise.all(parts.map((p) => writeNewFile(p.file, p.bytes, fsync)));
    Atomics.store(word, 0, 1);
  } catch (err) {
    const text = Buffer.from(err instanceof Error ? err.message : String(err), 'utf8');
    const out = new Uint8Array(message);
    out.set(text.subarray(0, out.length));
    Atomics.store(word, 0, 2);
  }
}

export function statusMessage(message: SharedArrayBuffer): string {
  const bytes = Buffer.from(new Uint8Array(message));
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}
