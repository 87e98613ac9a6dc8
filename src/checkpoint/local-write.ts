import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CheckpointSaveError, describeError } from '../errors/index.js';
import { crc32, crcHex } from './crc32.js';
import { COMMIT_FILE, FORMAT_NAME, MANIFEST_FILE } from './manifest.js';
import { buildManifest, type CheckpointPlan, type PlannedFile, type WrittenChecksums } from './plan.js';

/**
 * Bytes handed to one write call, and calls in flight per file. Measured here (384 MiB, ext4 on virtio):
 * one 8 MiB write at a time took 1.1-1.5 s, two 32 MiB writes in flight 0.5 s, fdatasync included.
 */
const CHUNK = 32 * 1024 * 1024;
const IN_FLIGHT = 2;
export const TEMP_PREFIX = '.tmp-';
const TRASH_PREFIX = '.trash-';

export interface LocalWriteOptions {
  /** fsync data, manifest, marker and directories (default true). Only benchmarks of the page cache turn it off. */
  fsync?: boolean;
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`write returned 0 bytes at offset ${position + done}`);
    done += bytesWritten;
  }
}

/**
 * Writes straight from the source arrays (no concatenation), a few large positional writes in flight, each
 * chunk checksummed on this thread while the writes run on libuv's pool. Made durable later (see syncFiles).
 */
async function writeDataFile(dir: string, file: PlannedFile, sources: Uint8Array[], sums: WrittenChecksums): Promise<void> {
  const fh = await fsp.open(path.join(dir, file.name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  const inflight = new Set<Promise<void>>();
  const issue = async (data: Uint8Array, position: number): Promise<void> => {
    while (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
    const p: Promise<void> = writeAll(fh, data, position).finally(() => inflight.delete(p));
    inflight.add(p);
  };
  try {
    await issue(file.header, 0);
    sums.header.set(file.name, crcHex(crc32(file.header)));
    for (const t of file.tensors) {
      const src = sources[t.source];
      let crc = 0;
      for (let off = 0; off < src.length; off += CHUNK) {
        const chunk = src.subarray(off, Math.min(src.length, off + CHUNK));
        await issue(chunk, t.begin + off);
        crc = crc32(chunk, crc);
      }
      sums.tensor.set(t.id, crcHex(crc));
    }
    await Promise.all(inflight);
  } finally {
    await Promise.allSettled(inflight);
    await fh.close();
  }
}

async function writeSmallFile(file: string, bytes: Uint8Array): Promise<void> {
  const fh = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await writeAll(fh, bytes, 0);
  } finally {
    await fh.close();
  }
}

/** fsyncs files (and directories) all at once: concurrent fsyncs share one journal commit. */
async function syncAll(paths: string[]): Promise<void> {
  await Promise.all(
    paths.map(async (p) => {
      const fh = await fsp.open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }),
  );
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A hidden name for a checkpoint being deleted or replaced; removeStaleTemporaries cleans up after a crash. */
export function trashName(name: string): string {
  return `${TRASH_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function tempName(name: string): string {
  return `${TEMP_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Writes a checkpoint crash-safely: everything goes to a hidden temporary directory, in three durable steps
 * (data files and manifest fsynced together; then the commit marker and the directory; then the rename into
 * place and the parent directory). A crash at any moment leaves either the previous state or the whole new
 * checkpoint, never a half one under a checkpoint name; the marker is never durable before the data.
 */
export async function writeLocalCheckpoint(root: string, name: string, plan: CheckpointPlan, sources: Uint8Array[], options: LocalWriteOptions = {}): Promise<string> {
  const fsync = options.fsync ?? true;
  const finalDir = path.join(root, name);
  const tmp = path.join(root, tempName(name));
  try {
    await fsp.mkdir(root, { recursive: true });
    await fsp.mkdir(tmp);
    const sums: WrittenChecksums = { header: new Map(), tensor: new Map() };
    for (const f of plan.files) await writeDataFile(tmp, f, sources, sums);
    const manifest = Buffer.from(JSON.stringify(buildManifest(plan, sums)), 'utf8');
    await writeSmallFile(path.join(tmp, MANIFEST_FILE), manifest);
    if (fsync) await syncAll([...plan.files.map((f) => path.join(tmp, f.name)), path.join(tmp, MANIFEST_FILE)]);
    const marker = { format: FORMAT_NAME, step: plan.step, manifestBytes: manifest.length, manifestCrc32: crcHex(crc32(manifest)) };
    await writeSmallFile(path.join(tmp, COMMIT_FILE), Buffer.from(JSON.stringify(marker), 'utf8'));
    if (fsync) await syncAll([path.join(tmp, COMMIT_FILE), tmp]);
    await publish(root, tmp, finalDir, fsync);
    return finalDir;
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof CheckpointSaveError) throw err;
    throw new CheckpointSaveError(`Could not write checkpoint ${name}: ${describeError(err)}`, { path: finalDir, tier: 'NVME', cause: err });
  }
}

async function publish(root: string, tmp: string, finalDir: string, fsync: boolean): Promise<void> {
  try {
    await fsp.rename(tmp, finalDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    // Re-saving a step: the old copy steps aside (hidden, so never loaded), the new one takes its name.
    const trash = path.join(root, trashName(path.basename(finalDir)));
    await fsp.rename(finalDir, trash);
    await fsp.rename(tmp, finalDir);
    if (fsync) await fsyncDir(root);
    await fsp.rm(trash, { recursive: true, force: true });
  }
  if (fsync) await fsyncDir(root);
}

/** Removes temporaries left by saves whose process is gone (a crash mid-save); those of live processes stay. */
export async function removeStaleTemporaries(root: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fsp.readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const e of entries) {
    if (!e.startsWith(TEMP_PREFIX) && !e.startsWith(TRASH_PREFIX)) continue;
    const pid = Number(/-(\d+)-[0-9a-f]{8}$/.exec(e)?.[1] ?? NaN);
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) continue;
    if (pid === process.pid) continue;
    await fsp.rm(path.join(root, e), { recursive: true, force: true });
    removed.push(e);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
