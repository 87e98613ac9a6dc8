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

/** Whether a process with this pid exists (one of another user counts: it cannot be signalled, but it lives). */
export function pidAlive(pid: number): boolean {
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

/** A user buffer in shared memory (allocateShared): which allocation, where in it, and every peer's mapping of theirs. */
export interface SharedAllocation {
  id: number;
  byteOffset: number;
  peers: (Buffer | null)[];
}

/**
 * The shared-memory segments of one process group on one host: this rank's own, which it writes and
 * its peers read, and a mapping of each peer's. Segments are named by owner pid, group and capacity,
 * so every rank can name every other's; each is unlinked as soon as all ranks have mapped it, so a
 * killed job leaves nothing in /dev/shm (but in that short window; sweepStaleSegments covers it).
 * Allocations (allocateShared) are files of the same kind, one per rank and allocation, with the
 * same life: made, mapped by every rank, unlinked; the memory then lives as long as the mappings.
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
  private pendingAlloc: { own: ArrayBuffer; peers: (Buffer | null)[] } | null = null;
  private allocations = new WeakMap<ArrayBufferLike, { id: number; peers: (Buffer | null)[] }>();
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
    try {
      this.pendingOwn = Buffer.from(this.makeFile(this.fileOf(this.rank, cap), cap));
      return '';
    } catch (err) {
      this.unlinkOwn(cap);
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** Map every peer's segment of `cap` bytes (they exist: every rank created its own first). Returns '' or why not. */
  mapPeers(cap: number): string {
    const got = this.mapPeerFiles((p) => this.fileOf(p, cap), cap);
    if (typeof got === 'string') return got;
    this.pendingPeers = got;
    return '';
  }

  /** Create `file` (exclusively, mode 0600), fill it with zeros and map it. Throws on failure (the file is then unlinked by the caller). */
  private makeFile(file: string, bytes: number): ArrayBuffer {
    const addon = shmAddon();
    if (addon === null) throw new Error('the shared-memory addon is not loaded');
    let fd = -1;
    try {
      fd = openSync(file, 'wx+', 0o600);
      this.created.add(file);
      const zeros = Buffer.alloc(Math.min(FILL_BYTES, bytes));
      for (let off = 0; off < bytes; off += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - off), off);
      return addon.mapShared(fd, bytes);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  /** Map every peer's file (named by `fileOf`) of `bytes`; the mappings, or why one failed. */
  private mapPeerFiles(fileOf: (rank: number) => string, bytes: number): (Buffer | null)[] | string {
    const addon = shmAddon();
    if (addon === null) return 'the shared-memory addon is not loaded';
    const out: (Buffer | null)[] = this.pids.map(() => null);
    for (let p = 0; p < this.pids.length; p++) {
      if (p === this.rank) continue;
      let fd = -1;
      try {
        // Never through a symlink, and only a file of our own user of the expected size: /dev/shm is
        // shared by every user of the host.
        fd = openSync(fileOf(p), constants.O_RDWR | constants.O_NOFOLLOW);
        const st = fstatSync(fd);
        if (!st.isFile() || st.size !== bytes || (typeof process.getuid === 'function' && st.uid !== process.getuid())) {
          throw new Error(`not a ${String(bytes)}-byte file of this user`);
        }
        out[p] = Buffer.from(addon.mapShared(fd, bytes));
      } catch (err) {
        return `rank ${String(p)}'s segment: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
    return out;
  }

  // ---- allocations (allocateShared): a user buffer that lives in shared memory ----

  allocationFileOf(rank: number, id: number, bytes: number): string {
    return path.join(this.dir, `${PREFIX}${String(this.pids[rank])}-${this.tag}-${String(rank)}-z${String(id)}-${String(bytes)}`);
  }

  /** Make and map this rank's file of allocation `id`. Returns '' or why it failed. */
  createAllocation(id: number, bytes: number): string {
    try {
      this.pendingAlloc = { own: this.makeFile(this.allocationFileOf(this.rank, id, bytes), bytes), peers: [] };
      return '';
    } catch (err) {
      this.unlinkAllocation(id, bytes);
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** Map every peer's file of allocation `id`. Returns '' or why not. */
  mapPeerAllocations(id: number, bytes: number): string {
    const got = this.mapPeerFiles((p) => this.allocationFileOf(p, id, bytes), bytes);
    if (typeof got === 'string') return got;
    if (this.pendingAlloc !== null) this.pendingAlloc.peers = got;
    return '';
  }

  unlinkAllocation(id: number, bytes: number): void {
    this.unlinkFile(this.allocationFileOf(this.rank, id, bytes));
  }

  /**
   * Every rank mapped allocation `id`: remember the peers' mappings under this rank's memory (held
   * as long as the caller holds its array, weakly), and hand that memory out.
   */
  commitAllocation(id: number): ArrayBuffer {
    const a = this.pendingAlloc;
    this.pendingAlloc = null;
    if (a === null) throw new Error('no allocation to commit');
    this.allocations.set(a.own, { id, peers: a.peers });
    return a.own;
  }

  abandonAllocation(): void {
    this.pendingAlloc = null;
  }

  /** The allocation `buf` is a view into, with its byte offset there and the peers' mappings, or undefined. */
  allocationOf(buf: { buffer: ArrayBufferLike; byteOffset: number }): SharedAllocation | undefined {
    const a = this.allocations.get(buf.buffer);
    return a === undefined ? undefined : { id: a.id, byteOffset: buf.byteOffset, peers: a.peers };
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
    this.pendingAlloc = null;
    // Allocations handed out stay valid memory for their holders; in a later group they are plain buffers.
    this.allocations = new WeakMap();
  }
}
