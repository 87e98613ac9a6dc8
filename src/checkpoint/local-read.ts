import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CheckpointError, CheckpointLoadError, CheckpointValidationError, describeError } from '../errors/index.js';
import { crc32, crcHex } from './crc32.js';
import type { CheckpointLoadConfig } from './load-config.js';
import { COMMIT_FILE, MANIFEST_FILE, MAX_MANIFEST_BYTES, parseCommit, parseManifest, type Manifest } from './manifest.js';
import type { StateValue } from './state-dict.js';
import { assembleState, checkManifestBounds } from './verify.js';

const READ_CHUNK = 64 * 1024 * 1024;

/** Opens a file of the checkpoint directory refusing symlinks (O_NOFOLLOW) and anything but a regular file. */
async function openInside(dir: string, name: string): Promise<{ fh: FileHandle; size: number }> {
  const file = path.join(dir, name);
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new CheckpointValidationError(`${name} is a symbolic link; checkpoints never contain links`, { path: file });
    if (code === 'ENOENT') throw new CheckpointLoadError(`${name} is missing`, { path: file });
    throw new CheckpointLoadError(`Cannot open ${name}: ${describeError(err)}`, { path: file, cause: err });
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new CheckpointValidationError(`${name} is not a regular file`, { path: file });
  }
  return { fh, size: st.size };
}

async function readInto(fh: FileHandle, target: Uint8Array, file: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await fh.read(target, done, Math.min(READ_CHUNK, target.length - done), done);
    if (bytesRead === 0) throw new CheckpointLoadError(`${path.basename(file)} ended after ${done} of ${target.length} bytes (truncated while reading)`, { path: file });
    done += bytesRead;
  }
}

async function readSmall(dir: string, name: string, maxBytes: number): Promise<Uint8Array> {
  const { fh, size } = await openInside(dir, name);
  try {
    if (size > maxBytes) throw new CheckpointValidationError(`${name} is ${size} bytes, above the ${maxBytes}-byte limit`, { path: path.join(dir, name) });
    const out = new Uint8Array(size);
    await readInto(fh, out, path.join(dir, name));
    return out;
  } finally {
    await fh.close();
  }
}

/** The step the commit marker of `dir` records; null if it cannot be read or is not a marker (load reports why). */
export async function readLocalMarkerStep(dir: string): Promise<number | null> {
  try {
    return parseCommit(await readSmall(dir, COMMIT_FILE, 4096), path.join(dir, COMMIT_FILE)).step;
  } catch {
    return null;
  }
}

/** Reads and checks the marker and the manifest (cheap: no tensor data). */
export async function readLocalManifest(dir: string): Promise<Manifest> {
  const marker = parseCommit(await readSmall(dir, COMMIT_FILE, 4096), path.join(dir, COMMIT_FILE));
  const bytes = await readSmall(dir, MANIFEST_FILE, MAX_MANIFEST_BYTES);
  if (bytes.length !== marker.manifestBytes || crcHex(crc32(bytes)) !== marker.manifestCrc32) {
    throw new CheckpointValidationError('The manifest does not match its commit marker (torn or altered)', { path: path.join(dir, MANIFEST_FILE) });
  }
  const manifest = parseManifest(bytes, path.join(dir, MANIFEST_FILE));
  if (manifest.step !== marker.step) throw new CheckpointValidationError(`The manifest says step ${manifest.step}, the marker ${marker.step}`, { path: dir });
  return manifest;
}

/** Loads and fully verifies the checkpoint directory `dir`. Never follows links, never reads outside `dir`. */
export async function readLocalCheckpoint(dir: string, config: CheckpointLoadConfig): Promise<{ manifest: Manifest; state: StateValue }> {
  try {
    const st = await fsp.lstat(dir).catch((err: unknown) => {
      throw new CheckpointLoadError(`Checkpoint directory not found: ${describeError(err)}`, { path: dir, cause: err });
    });
    if (!st.isDirectory()) throw new CheckpointValidationError('Not a checkpoint directory (a link or a file)', { path: dir });
    const manifest = await readLocalManifest(dir);
    const handles = new Map<string, { fh: FileHandle; size: number }>();
    try {
      for (const f of manifest.files) handles.set(f.name, await openInside(dir, f.name));
      checkManifestBounds(manifest, new Map([...handles].map(([n, h]) => [n, h.size])), dir);
      const data = new Map<string, Uint8Array>();
      for (const [name, h] of handles) {
        const bytes = new Uint8Array(new ArrayBuffer(h.size));
        await readInto(h.fh, bytes, path.join(dir, name));
        data.set(name, bytes);
      }
      return { manifest, state: assembleState(manifest, data, config, dir) };
    } finally {
      for (const h of handles.values()) await h.fh.close();
    }
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointLoadError(`Cannot read checkpoint: ${describeError(err)}`, { path: dir, cause: err });
  }
}
