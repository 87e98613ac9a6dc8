import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { shmAddon } from './native.js';

/** Where segments live: a tmpfs, /dev/shm unless EH_SHM_DIR names another (every rank must use the same). */
export function shmDir(): string {
  return process.env.EH_SHM_DIR || '/dev/shm';
}
const PREFIX = 'eh-shm-';
const FILL_BYTES = 1 << 20;

/** True when this process can take part in shared-memory collectives (Linux tmpfs and the addon). */
export function sharedMemoryCapable(): boolean {
  return process.env.EH_COLLECTIVE_SHM !== '0' && existsSync(shmDir()) && shmAddon() !== null;
}

/** Smallest power of two >= bytes, at least 1 MiB: sizes vary a little from call to call, regrowing each time would cost more than the slack. */
export function segmentCapacity(bytes: number): number {
  let cap = 1 << 20;
  while (cap < bytes) cap *= 2;
  return cap;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove segments left by processes killed in the few milliseconds between creating and unlinking one. */
export function sweepStaleSegments(dir = shmDir()): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^eh-shm-(\d+)-/.exec(name);
    if (m === null || pidAlive(Number(m[1]))) continue;
    try {
      unlinkSync(path.join(dir, name));
      removed++;
    } catch {
      // another process swept it first
    }
  }
  return removed;
}

/**
 * The shared-memory segments of one process group on one host: this rank's own, which it writes and
 * its peers read, and a mapping of each peer's. Segments are named by owner pid, group and capacity,
 * so every rank can name every other's; each is unlinked as soon as all ranks have mapped it, so a
 * killed job leaves nothing in /dev/shm (but in that short window; sweepStaleSegments covers it).
 */
export class SharedSegments {
  /** Bytes every rank can use in every segment (0 until the first grow). */
  capacity = 0;
  /** Calls of this many bytes or more use the sockets: a segment that large could not be made. */
  limit = Number.POSITIVE_INFINITY;
  own: Buffer | null = null;
  peers: (Buffer | null)[];
  private readonly tag: string;
  private pendingOwn: Buffer | null = null;
  private pendingPeers: (Buffer | null)[] = [];
  private readonly created = new Set<string>();
  private readonly unlinkAll = (): void => {
    for (const file of this.created) this.unlinkFile(file);
  };

  constructor(
    readonly rank: number,
    /** Pid of every rank (index = rank), from the address exchange. */
    private readonly pids: number[],
    groupId: string,
    private readonly dir = shmDir(),
  ) {
    this.tag = createHash('sha256').update(groupId).digest('hex').slice(0, 12);
    this.peers = pids.map(() => null);
    sweepStaleSegments(dir);
    process.on('exit', this.unlinkAll);
  }

  fileOf(rank: number, cap: number): string {
    return path.join(this.dir, `${PREFIX}${String(this.pids[rank])}-${this.tag}-${String(rank)}-${String(cap)}`);
  }

  /** Whether a call of `bytes` needs a bigger segment first (and may get one). */
  needsGrow(bytes: number): boolean {
    return bytes > this.capacity && bytes < this.limit;
  }

  usable(bytes: number): boolean {
    return bytes <= this.capacity;
  }

  /**
   * Make and map this rank's segment of `cap` bytes. Every page is written (not just ftruncate'd) so
   * that a full tmpfs shows here as ENOSPC instead of a SIGBUS on first touch in the middle of a call.
   * Returns '' or why it failed.
   */
  createOwn(cap: number): string {
    const addon = shmAddon();
    if (addon === null) return 'the shared-memory addon is not loaded';
    const file = this.fileOf(this.rank, cap);
    let fd = -1;
    try {
      fd = openSync(file, 'wx+', 0o600);
      this.created.add(file);
      const zeros = Buffer.alloc(Math.min(FILL_BYTES, cap));
      for (let off = 0; off < cap; off += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, cap - off), off);
      this.pendingOwn = Buffer.from(addon.mapShared(fd, cap));
      return '';
    } catch (err) {
      this.unlinkOwn(cap);
      return err instanceof Error ? err.message : String(err);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  /** Map every peer's segment of `cap` bytes (they exist: every rank created its own first). Returns '' or why not. */
  mapPeers(cap: number): string {
    const addon = shmAddon();
    if (addon === null) return 'the shared-memory addon is not loaded';
    this.pendingPeers = this.pids.map(() => null);
    for (let p = 0; p < this.pids.length; p++) {
      if (p === this.rank) continue;
      let fd = -1;
      try {
        // Never through a symlink, and only a file of our own user of the expected size: /dev/shm is
        // shared by every user of the host.
        fd = openSync(this.fileOf(p, cap), constants.O_RDWR | constants.O_NOFOLLOW);
        const st = fstatSync(fd);
        if (!st.isFile() || st.size !== cap || (typeof process.getuid === 'function' && st.uid !== process.getuid())) {
          throw new Error(`not a ${String(cap)}-byte file of this user`);
        }
        this.pendingPeers[p] = Buffer.from(addon.mapShared(fd, cap));
      } catch (err) {
        this.pendingPeers = [];
        return `rank ${String(p)}'s segment: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
    return '';
  }

  /** Every rank mapped every segment of `cap`: switch to them (the old mappings go with the garbage collector). */
  commit(cap: number): void {
    this.own = this.pendingOwn;
    this.peers = this.pendingPeers;
    this.pendingOwn = null;
    this.pendingPeers = [];
    this.capacity = cap;
  }

  /** Some rank could not make or map a segment for `bytes`: calls that large use the sockets from now on. */
  abandon(bytes: number): void {
    this.pendingOwn = null;
    this.pendingPeers = [];
    this.limit = Math.min(this.limit, bytes);
  }

  unlinkOwn(cap: number): void {
    this.unlinkFile(this.fileOf(this.rank, cap));
  }

  private unlinkFile(file: string): void {
    if (!this.created.delete(file)) return;
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }

  close(): void {
    this.unlinkAll();
    process.off('exit', this.unlinkAll);
    this.own = null;
    this.peers = this.pids.map(() => null);
    this.pendingOwn = null;
    this.pendingPeers = [];
  }
}
