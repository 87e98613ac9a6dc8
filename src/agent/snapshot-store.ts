/**
 * Agent side of the agent-held MEMORY checkpoint tier: snapshot files in a tmpfs directory this agent owns
 * (outliving its workers), checksummed here once the worker has written them, bounded together with the
 * agentMemory blobs by --memory-limit (a peer's copies count too), and handed to the peer link for the
 * copy on another node. The worker's end and the messages are the checkpoint part's (agent-memory/).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { buildManifest, crc32, crcHex, type CheckpointPlan, type SnapshotListing } from '../checkpoint/index.js';

export interface HeldSnapshot {
  rank: number;
  name: string;
  step: number;
  /** The node whose worker saved it (this node for its own, another for a peer's copy). */
  origin: string;
  path: string;
  bytes: number;
  /** Set once the snapshot is whole: checksummed (own) or fully received (a peer's). */
  manifest?: string;
  offsets?: Record<string, number>;
  seq: number;
  /** The peer node's agent this node's own snapshot was copied to. */
  sentTo?: string;
  /** The node whose agent this copy was fetched from, for a copy fetched on a worker's demand. */
  fetchedFrom?: string;
}

const MIB = 1024 * 1024;
const mib = (n: number): string => `${(n / MIB).toFixed(1)} MiB`;
const DIR_PREFIX = 'eh-ckpt-';
const SNAPSHOT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

/** The tmpfs snapshots live in: EH_SHM_DIR, else /dev/shm. */
export function snapshotTmpfs(env: NodeJS.ProcessEnv = process.env): string {
  return env.EH_SHM_DIR || '/dev/shm';
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Directories left by agents that were killed (SIGKILL gives no chance to clean up). */
function sweepStale(base: string): void {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const n of names) {
    const m = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(n);
    if (m !== null && !pidAlive(Number(m[1]))) rmSync(join(base, n), { recursive: true, force: true });
  }
}

export class SnapshotFullError extends Error {}

export class SnapshotStore {
  readonly dir: string;
  private readonly held: HeldSnapshot[] = [];
  /**
   * The file of the last snapshot dropped, kept (and counted in the bound) for the next one of the same size: its
   * tmpfs pages are already allocated, which makes the next save's copy several times faster than into fresh pages.
   */
  private spare: { path: string; bytes: number } | undefined;
  private readonly sealing = new Set<Promise<void>>();
  private seq = 0;
  private readonly removeDir = (): void => rmSync(this.dir, { recursive: true, force: true });

  constructor(
    readonly nodeId: string,
    readonly limitBytes: number,
    /** Bytes the agent holds besides snapshots (agentMemory blobs): one bound for the node. */
    private readonly otherBytes: () => number,
    private readonly log: (line: string) => void,
    base = snapshotTmpfs(),
  ) {
    sweepStale(base);
    this.dir = join(base, `${DIR_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    process.on('exit', this.removeDir);
  }

  get usedBytes(): number {
    return this.held.reduce((n, s) => n + s.bytes, 0) + (this.spare?.bytes ?? 0);
  }

  /** Bytes held for this node's own workers, and for other nodes. */
  usage(): { own: number; peers: number; snapshots: number; limit: number } {
    const own = this.held.filter((s) => s.origin === this.nodeId).reduce((n, s) => n + s.bytes, 0) + (this.spare?.bytes ?? 0);
    return { own, peers: this.usedBytes - own, snapshots: this.held.length, limit: this.limitBytes };
  }

  describeUsage(): string {
    const u = this.usage();
    return `${u.snapshots} snapshot(s), ${mib(u.own)} own + ${mib(u.peers)} for peers of ${mib(u.limit)} (--memory-limit)`;
  }

  /**
   * A file for a snapshot of `bytes`, evicting the oldest snapshots (this rank's own older ones first, never the
   * newest of another node's) until it fits the node's bound. A snapshot larger than the bound, or one that cannot
   * fit without evicting every other node's newest copy, is refused with SnapshotFullError.
   */
  allocate(rank: number, name: string, step: number, bytes: number, origin = this.nodeId): HeldSnapshot {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`a snapshot must have a positive size, got ${String(bytes)}`);
    // The name becomes part of a file name here: one plain segment, as checkpoint names are (from a worker or a peer alike).
    if (!SNAPSHOT_NAME.test(name) || name.includes('..')) throw new Error(`${JSON.stringify(name.slice(0, 80))} is not a checkpoint name (letters, digits, _ . -; no path)`);
    if (bytes > this.limitBytes) throw new SnapshotFullError(`memory snapshot ${name} of rank ${rank} needs ${mib(bytes)}, more than this node's bound of ${mib(this.limitBytes)}: raise --memory-limit`);
    this.remove((s) => s.rank === rank && s.name === name && s.origin === origin);
    const reuse = this.spare?.bytes === bytes ? this.spare : undefined;
    if (this.spare !== undefined && reuse === undefined) this.dropSpare();
    // A reused spare is already counted.
    const adds = reuse === undefined ? bytes : 0;
    while (this.usedBytes + this.otherBytes() + adds > this.limitBytes) {
      const victim = this.victim(rank, origin);
      if (victim === undefined) {
        throw new SnapshotFullError(`memory snapshot ${name} of rank ${rank} (${mib(bytes)}) does not fit: ${this.describeUsage()}, and every snapshot left is some node's newest or still being written; raise --memory-limit`);
      }
      this.log(`memory tier: evicting ${victim.name} of rank ${victim.rank} (node ${victim.origin}, ${mib(victim.bytes)}) to make room for ${name}`);
      this.remove((s) => s === victim, false);
    }
    // Made on first use: an agent whose workers never snapshot leaves nothing in the tmpfs.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `${++this.seq}-r${rank}-${name}`);
    if (reuse !== undefined && this.spare === reuse) {
      renameSync(reuse.path, path);
      this.spare = undefined;
    } else {
      const fd = openSync(path, 'wx', 0o600);
      try {
        ftruncateSync(fd, bytes);
      } finally {
        closeSync(fd);
      }
    }
    const snap: HeldSnapshot = { rank, name, step, origin, path, bytes, seq: this.seq };
    this.held.push(snap);
    return snap;
  }

  private victim(rank: number, origin: string): HeldSnapshot | undefined {
    const whole = this.held.filter((s) => s.manifest !== undefined).sort((a, b) => a.step - b.step || a.seq - b.seq);
    const newestOf = (s: HeldSnapshot): boolean => !whole.some((o) => o.origin === s.origin && o.rank === s.rank && (o.step > s.step || (o.step === s.step && o.seq > s.seq)));
    return whole.find((s) => s.origin === origin && s.rank === rank) ?? whole.find((s) => !newestOf(s));
  }

  /** The worker wrote every byte: checksum the file as it now is and keep it. Resolves once it is whole. */
  commit(rank: number, name: string, plan: CheckpointPlan, offsets: Record<string, number>): Promise<HeldSnapshot> {
    const snap = this.held.find((s) => s.rank === rank && s.name === name && s.origin === this.nodeId && s.manifest === undefined);
    if (snap === undefined) return Promise.reject(new Error(`no snapshot ${name} of rank ${rank} is being written (it was aborted or evicted)`));
    const job = seal(snap, plan, offsets).then(
      (manifest) => {
        snap.manifest = manifest;
        snap.offsets = offsets;
        return snap;
      },
      (err: unknown) => {
        this.remove((s) => s === snap);
        throw err;
      },
    );
    const tracked = job.then(() => undefined, () => undefined);
    this.sealing.add(tracked);
    void tracked.finally(() => this.sealing.delete(tracked));
    return job;
  }

  /** Keep a whole snapshot received from another agent (the file was allocated and filled by the caller). */
  adopt(snap: HeldSnapshot, manifest: string, offsets: Record<string, number>): void {
    snap.manifest = manifest;
    snap.offsets = offsets;
  }

  /** Waits for commits under way, so that a listing right after a save (or a restart) includes it. */
  async settled(): Promise<void> {
    await Promise.all([...this.sealing]);
  }

  /** Whole snapshots of `rank` held here, newest first. */
  whole(rank: number): HeldSnapshot[] {
    return this.held.filter((s) => s.rank === rank && s.manifest !== undefined).sort((a, b) => b.step - a.step || b.seq - a.seq);
  }

  listing(rank: number): SnapshotListing[] {
    return this.whole(rank).map((s) => ({ name: s.name, step: s.step, holder: s.origin === this.nodeId ? 'agent' : 'peer-agent', node: this.nodeId, origin: s.origin }));
  }

  find(rank: number, name: string, origin?: string): HeldSnapshot | undefined {
    return this.whole(rank).find((s) => s.name === name && (origin === undefined || s.origin === origin));
  }

  /** Drops every snapshot `match` selects (its file too, or the first kept as the spare); returns them. */
  remove(match: (s: HeldSnapshot) => boolean, keepSpare = true): HeldSnapshot[] {
    const gone: HeldSnapshot[] = [];
    for (let i = this.held.length - 1; i >= 0; i--) {
      const s = this.held[i];
      if (!match(s)) continue;
      this.held.splice(i, 1);
      gone.push(s);
      if (keepSpare && this.spare === undefined && s.manifest !== undefined) {
        this.spare = { path: `${s.path}.spare`, bytes: s.bytes };
        try {
          renameSync(s.path, this.spare.path);
          continue;
        } catch {
          this.spare = undefined;
        }
      }
      try {
        unlinkSync(s.path);
      } catch {
        // already gone
      }
    }
    return gone;
  }

  private dropSpare(): void {
    if (this.spare === undefined) return;
    try {
      unlinkSync(this.spare.path);
    } catch {
      // already gone
    }
    this.spare = undefined;
  }

  close(): void {
    this.spare = undefined;
    process.off('exit', this.removeDir);
    this.removeDir();
    this.held.length = 0;
  }
}

const CHUNK = 8 * MIB;

/** CRC-32 of every header and tensor of the snapshot file, read in chunks so that the agent's event loop keeps turning. */
async function seal(snap: HeldSnapshot, plan: CheckpointPlan, offsets: Record<string, number>): Promise<string> {
  const fh = await open(snap.path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  const crcOf = async (begin: number, end: number): Promise<string> => {
    let c = 0;
    for (let at = begin; at < end; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, end - at), at);
      if (bytesRead === 0) throw new Error(`snapshot file ${snap.path} ends at ${at}, before ${end}`);
      c = crc32(buf.subarray(0, bytesRead), c);
      at += bytesRead;
    }
    return crcHex(c);
  };
  try {
    const header = new Map<string, string>();
    const tensor = new Map<string, string>();
    let total = 0;
    for (const f of plan.files) {
      const at = offsets[f.name];
      if (at === undefined || at + f.size > snap.bytes) throw new Error(`file ${f.name} lies outside the snapshot's ${snap.bytes} bytes`);
      header.set(f.name, await crcOf(at, at + f.header.length));
      for (const t of f.tensors) tensor.set(t.id, await crcOf(at + t.begin, at + t.end));
      total += f.size;
    }
    if (total !== snap.bytes) throw new Error(`the plan's files are ${total} bytes, the snapshot ${snap.bytes}`);
    return JSON.stringify(buildManifest(plan, { header, tensor }));
  } finally {
    await fh.close();
  }
}
