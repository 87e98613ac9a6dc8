import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { CheckpointError, CheckpointLoadError, CheckpointSaveError, CheckpointValidationError, ConfigurationError, describeError } from '../../errors/index.js';
import { MemoryLimitExceeded } from '../errors.js';
import { CheckpointLoadConfig } from '../load-config.js';
import { parseManifest } from '../manifest.js';
import { assertNameOfStep, assertValidName, checkpointName, sortByStep } from '../names.js';
import { planCheckpoint } from '../plan.js';
import { CheckpointState } from '../state.js';
import { CheckpointTier, type CheckpointBackend, type PendingSave } from '../tier.js';
import { assembleState, checkManifestBounds } from '../verify.js';
import { snapshotRequest } from './client.js';
import type { OpenedSnapshot, SnapshotListing, SnapshotReply } from './protocol.js';

export interface AgentMemoryBackendOptions {
  /**
   * Whose snapshots this backend saves and loads: default 0, because a checkpoint is the world's (rank 0 saves it,
   * as the trainer does, and every rank loads it). Give each rank its own number for per-rank state.
   */
  rank?: number;
  /** Upper bound on one snapshot's bytes, checked here before the agent is asked; null for none (default). The node's bound is the agent's --memory-limit. */
  maxMemoryMb?: number | null;
  /** Where a refused copy is reported; default one line on stderr. */
  logger?: (message: string) => void;
  /** Milliseconds to wait for the agent to answer (default 30 s; opening a copy held by another node's agent gets 4x). */
  timeoutMs?: number;
}

/** Copies of one name, those of this node's agent first. */
function copiesOf(list: SnapshotListing[], name: string): SnapshotListing[] {
  return list.filter((s) => s.name === name).sort((a, b) => Number(a.holder !== 'agent') - Number(b.holder !== 'agent'));
}

/** How a copy is named in messages: which agent holds it and for whom. */
export function describeCopy(c: { holder: string; node: string; origin: string }): string {
  return c.holder === 'agent' ? `this node's agent (${c.node})` : `the agent of node ${c.node}${c.origin !== c.node ? ` (a copy of node ${c.origin}'s)` : ''}`;
}

/**
 * The MEMORY tier held by the agent of `eh run` instead of the worker: it outlives the worker (a worker restarted
 * after SIGKILL finds its snapshot through loadCheckpoint()) and, copied to one peer node's agent, the node. A save
 * writes the state once, straight into a tmpfs file the agent owns, so the worker keeps no second copy; the agent
 * then checksums it and sends it on. Loading reads one copy, verifies every checksum, and refuses a copy that fails
 * them (the next copy, or else the next older checkpoint or tier, is taken by the manager).
 */
export class AgentMemoryBackend implements CheckpointBackend {
  readonly tier = CheckpointTier.MEMORY;
  readonly rank: number;
  readonly maxMemoryBytes: number | null;
  private readonly logger: (message: string) => void;
  private readonly timeoutMs: number;

  constructor(options: AgentMemoryBackendOptions = {}) {
    this.rank = options.rank ?? 0;
    if (!Number.isSafeInteger(this.rank) || this.rank < 0) throw new ConfigurationError(`AgentMemoryBackend: rank must be a non-negative integer, got ${String(options.rank)}`, { configKey: 'rank' });
    const mb = options.maxMemoryMb ?? null;
    if (mb !== null && !(typeof mb === 'number' && mb > 0)) throw new ConfigurationError(`maxMemoryMb must be a positive number or null, got ${String(mb)}`, { configKey: 'maxMemoryMb' });
    this.maxMemoryBytes = mb === null ? null : Math.floor(mb * 1024 * 1024);
    this.logger = options.logger ?? ((m) => process.stderr.write(`[eh checkpoint] ${m}\n`));
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async save(state: CheckpointState, name = checkpointName(state.step)): Promise<string> {
    assertValidName(name, this.tier);
    assertNameOfStep(name, state.step, this.tier);
    const { plan, sources } = planCheckpoint(state.toDict(), { step: state.step, worldSize: state.worldSize, timestamp: state.timestamp });
    if (this.maxMemoryBytes !== null && plan.totalBytes > this.maxMemoryBytes) throw new MemoryLimitExceeded(plan.totalBytes, this.maxMemoryBytes);
    let alloc: SnapshotReply;
    try {
      alloc = await snapshotRequest({ op: 'alloc', rank: this.rank, name, step: state.step, bytes: plan.totalBytes }, this.timeoutMs);
    } catch (err) {
      const tooLarge = (err as { reply?: SnapshotReply }).reply?.tooLarge;
      if (tooLarge !== undefined) throw new MemoryLimitExceeded(tooLarge.bytes, tooLarge.limit);
      throw new CheckpointSaveError(`The agent could not take memory snapshot ${name}: ${describeError(err)}`, { tier: this.tier, cause: err, suggestions: ['Raise the node bound with `eh run --memory-limit MiB`, or keep fewer snapshots (maxMemorySnapshots).'] });
    }
    const offsets: Record<string, number> = {};
    try {
      const fd = openSync(alloc.path!, 'r+');
      try {
        let at = 0;
        for (const f of plan.files) {
          offsets[f.name] = at;
          writeAll(fd, f.header, at);
          for (const t of f.tensors) writeAll(fd, sources[t.source], at + t.begin);
          at += f.size;
        }
      } finally {
        closeSync(fd);
      }
      await snapshotRequest({ op: 'commit', rank: this.rank, name, plan, offsets }, this.timeoutMs);
    } catch (err) {
      await snapshotRequest({ op: 'abort', rank: this.rank, name }, this.timeoutMs).catch(() => undefined);
      throw new CheckpointSaveError(`Writing memory snapshot ${name} into the agent's memory failed: ${describeError(err)}`, { tier: this.tier, cause: err, suggestions: ['Is the tmpfs (/dev/shm, or EH_SHM_DIR) full? Raise its size or snapshot less often.'] });
    }
    return `agent-memory://rank${this.rank}/${name}`;
  }

  async saveAsync(state: CheckpointState, name?: string): Promise<PendingSave> {
    const path = await this.save(state, name);
    return { path, done: Promise.resolve(path) };
  }

  /** Whole snapshots of this rank, every copy (this node's agent's and the other agents'). */
  async copies(): Promise<SnapshotListing[]> {
    try {
      return (await snapshotRequest({ op: 'list', rank: this.rank }, this.timeoutMs)).list ?? [];
    } catch (err) {
      throw new CheckpointLoadError(`Cannot list the agent-held memory snapshots: ${describeError(err)}`, { tier: this.tier, cause: err });
    }
  }

  /**
   * Loads and verifies one copy of a snapshot (the newest without a name), this node's agent's first. A copy that
   * fails its checksums is refused with a warning naming it, forgotten by its agent, and the next copy tried.
   */
  async load(name?: string, config: CheckpointLoadConfig = new CheckpointLoadConfig({ logger: this.logger })): Promise<CheckpointState> {
    const list = await this.copies();
    const wanted = name ?? sortByStep([...new Set(list.map((s) => s.name))]).at(-1);
    const copies = wanted === undefined ? [] : copiesOf(list, wanted);
    if (wanted === undefined || copies.length === 0) throw new CheckpointLoadError(wanted === undefined ? 'No memory snapshot held by any agent' : `No agent holds memory snapshot ${wanted}`, { tier: this.tier, path: wanted });
    const refused: string[] = [];
    for (const c of copies) {
      let opened: OpenedSnapshot;
      try {
        opened = (await snapshotRequest({ op: 'open', rank: this.rank, name: wanted, node: c.node }, this.timeoutMs * 4)).opened!;
      } catch (err) {
        refused.push(`${describeCopy(c)}: ${describeError(err)}`);
        continue;
      }
      const where = `agent-memory://${opened.node}/rank${this.rank}/${wanted}`;
      try {
        const state = readSnapshot(opened, config, where);
        state.loadInfo = { tier: this.tier, name: wanted, unreadableTiers: [], source: opened.holder, sourceNode: opened.node };
        return state;
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw err;
        const reason = err.problem;
        this.logger(`refusing the copy of ${wanted} held by ${describeCopy(opened)} (${where}): ${reason}`);
        refused.push(`${describeCopy(opened)}: ${reason}`);
        await snapshotRequest({ op: 'discard', rank: this.rank, name: wanted, node: opened.node, reason }, this.timeoutMs).catch(() => undefined);
      }
    }
    throw new CheckpointValidationError(`Every copy of memory snapshot ${wanted} was refused: ${refused.join('; ')}`, { path: `agent-memory://rank${this.rank}/${wanted}` });
  }

  async exists(name: string): Promise<boolean> {
    return (await this.copies()).some((s) => s.name === name);
  }

  async listCheckpoints(prefix = ''): Promise<string[]> {
    return sortByStep([...new Set((await this.copies()).map((s) => s.name))].filter((n) => n.startsWith(prefix)));
  }

  async delete(name: string): Promise<void> {
    await snapshotRequest({ op: 'delete', rank: this.rank, name }, this.timeoutMs);
  }

  async getLatestCheckpoint(): Promise<string | null> {
    return (await this.listCheckpoints()).at(-1) ?? null;
  }

  async cleanupOldCheckpoints(keepLast: number): Promise<string[]> {
    const names = await this.listCheckpoints();
    const drop = names.slice(0, Math.max(0, names.length - keepLast));
    for (const n of drop) await this.delete(n);
    return drop;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

/** One copy of the snapshot file, read into this process's own memory (the agent's copy stays untouched), then verified and rebuilt. */
function readSnapshot(o: OpenedSnapshot, config: CheckpointLoadConfig, where: string): CheckpointState {
  const manifest = parseManifest(Buffer.from(o.manifest, 'utf8'), where);
  const fd = openSync(o.path, 'r');
  let blob: Uint8Array;
  try {
    const size = fstatSync(fd).size;
    if (size !== o.bytes) throw new CheckpointValidationError(`The snapshot file is ${size} bytes, its record says ${o.bytes}`, { path: where });
    blob = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, blob, done, size - done, done);
      if (n === 0) throw new CheckpointValidationError(`The snapshot file ended after ${done} of ${size} bytes`, { path: where });
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  const sizes = new Map<string, number>();
  const data = new Map<string, Uint8Array>();
  for (const f of manifest.files) {
    const at = o.offsets[f.name];
    if (at === undefined || !Number.isSafeInteger(at) || at < 0 || at + f.size > blob.length) throw new CheckpointValidationError(`Data file ${f.name} lies outside the snapshot's ${blob.length} bytes`, { path: where });
    sizes.set(f.name, f.size);
    data.set(f.name, blob.subarray(at, at + f.size));
  }
  checkManifestBounds(manifest, sizes, where);
  const tree = assembleState(manifest, data, config, where);
  const state = CheckpointState.fromDict(tree, { validate: config.validateStructure, where });
  if (state.step !== manifest.step) throw new CheckpointValidationError(`The snapshot's state is at step ${state.step}, its manifest says ${manifest.step}`, { path: where });
  return state;
}
