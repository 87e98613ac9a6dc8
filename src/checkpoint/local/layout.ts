import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { ConfigurationError } from '../../errors/index.js';
import { PART_MAGIC } from './part-format.js';

/**
 * Where parts live: `<root>/rank_<holder>/iter_<iteration>_part_<rank>.ckpt`, plus `.dirty` while not yet
 * committed. Every name is built from checked integers and every listed name is matched strictly, so nothing
 * read from disk can make a path that leaves the root; files are opened with O_NOFOLLOW.
 */
const PART_NAME = /^iter_(\d{1,15})_part_(\d{1,9})\.ckpt(\.dirty)?$/;
export const DIRTY_SUFFIX = '.dirty';

export interface PartFile {
  iteration: number;
  /** The rank whose state the part is. */
  part: number;
  dirty: boolean;
  /** Absolute path. */
  file: string;
}

export function checkIteration(iteration: unknown): number {
  if (typeof iteration !== 'number' || !Number.isSafeInteger(iteration) || iteration < 0 || iteration >= 1e15) {
    throw new ConfigurationError(`iteration must be a whole number in 0..999999999999999, got ${JSON.stringify(iteration)}`, { configKey: 'iteration' });
  }
  return iteration;
}

export function rankDir(root: string, holder: number): string {
  if (!Number.isSafeInteger(holder) || holder < 0) throw new ConfigurationError(`rank must be a whole number >= 0, got ${String(holder)}`);
  return path.join(root, `rank_${String(holder)}`);
}

export function partName(iteration: number, part: number, dirty: boolean): string {
  return `iter_${String(checkIteration(iteration))}_part_${String(part)}.ckpt${dirty ? DIRTY_SUFFIX : ''}`;
}

/** The parts in a holder's directory (none when it does not exist), newest iteration first. */
export async function listParts(dir: string): Promise<PartFile[]> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: PartFile[] = [];
  for (const e of entries) {
    const m = PART_NAME.exec(e.name);
    if (m === null || !e.isFile()) continue;
    out.push({ iteration: Number(m[1]), part: Number(m[2]), dirty: m[3] !== undefined, file: path.join(dir, e.name) });
  }
  return out.sort((a, b) => b.iteration - a.iteration || a.part - b.part);
}

async function openRead(file: string): Promise<fsp.FileHandle> {
  return fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
}

/** The magic, header length, header and header CRC of a part file (enough for readPartMeta). */
export async function readHeaderBytes(file: string): Promise<Uint8Array> {
  const fh = await openRead(file);
  try {
    const head = Buffer.alloc(PART_MAGIC.length + 4);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead < head.length) return head.subarray(0, bytesRead);
    const len = Math.min(head.readUInt32LE(PART_MAGIC.length), 256 * 1024 * 1024);
    const all = Buffer.alloc(head.length + len + 4);
    const r = await fh.read(all, 0, all.length, 0);
    return all.subarray(0, r.bytesRead);
  } finally {
    await fh.close();
  }
}

export async function readWhole(file: string): Promise<Uint8Array> {
  const fh = await openRead(file);
  try {
    const buf = await fh.readFile();
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a part as a new file (exclusive create: a second writer of the same name fails) and makes it durable. */
export async function writeNewFile(file: string, bytes: Uint8Array, fsync: boolean): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const fh = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 64 << 20), done);
      if (bytesWritten === 0) throw new Error(`write returned 0 bytes at offset ${String(done)}`);
      done += bytesWritten;
    }
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
  if (fsync) await syncDir(path.dirname(file));
}

/** Dirty → clean: one rename, then the directory made durable. */
export async function commitFile(dirtyFile: string, fsync: boolean): Promise<void> {
  if (!dirtyFile.endsWith(DIRTY_SUFFIX)) throw new Error(`not a dirty part: ${dirtyFile}`);
  await fsp.rename(dirtyFile, dirtyFile.slice(0, -DIRTY_SUFFIX.length));
  if (fsync) await syncDir(path.dirname(dirtyFile));
}

export async function removeFiles(files: string[]): Promise<void> {
  await Promise.all(files.map((f) => fsp.rm(f, { force: true })));
}
