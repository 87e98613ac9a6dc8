import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CheckpointLoadError, CheckpointSaveError, ConfigurationError, describeError } from '../../errors/index.js';
import type { ProcessGroup } from '../../collective/index.js';
import { AsyncRequest } from '../async-queue.js';
import { writerFunction } from '../writer-function.js';
import { findAvailable, packInventory, unpackInventories, INVENTORY_LENGTH, type Availability, type Holding, type Inventory, type Mismatch } from './inventory.js';
import { checkIteration, commitFile, listParts, partName, rankDir, readHeaderBytes, readWhole, removeFiles, writeNewFile, DIRTY_SUFFIX } from './layout.js';
import { decodePart, encodePart, readPartMeta, type PartMeta, type PartReplication } from './part-format.js';
import { PART_WRITER_MODULE, statusMessage, writeDirtyParts, type DirtyPart } from './part-writer.js';
import type { ReplicationStrategy } from './replication.js';
import type { TensorAwareStateDict } from './state-dict.js';

const WRITE_DIRTY_PARTS = writerFunction(PART_WRITER_MODULE, 'writeDirtyParts');

export interface LocalCheckpointManagerOptions {
  /** Replicate each part to other ranks (CliqueReplicationStrategy); none by default. Must be the same at save and load. */
  replStrategy?: ReplicationStrategy;
  /** The process group the ranks agree and exchange parts over (default: the collective's, from setupDistributedEnvironment()). */
  processGroup?: ProcessGroup;
  /** Bound on each collective step, in ms (default 120 000): a rank that does not call in time is named in the error. */
  timeoutMs?: number;
  /** fsync parts and directories (default true). */
  fsync?: boolean;
  /** Where fallbacks and refused copies are reported (default: stderr). */
  log?: (line: string) => void;
}

export interface LocalPartId {
  iteration: number;
  rank: number;
}

export interface LocalLoadResult {
  stateDict: TensorAwareStateDict;
  partId: LocalPartId;
}

export interface FindLatestReport {
  iteration: number;
  /** Newer iterations that could not be loaded, with the parts nobody holds a good copy of. */
  incomplete: { iteration: number; missingParts: number[] }[];
}

/**
 * Node-local checkpoints, one part per rank, optionally replicated to peer ranks (NVRx's LocalCheckpointManager).
 * Every rank must call save, load and findLatest together: they agree over the process group, and a rank that
 * does not come is named in a CollectiveTimeoutError after `timeoutMs`, never a hang.
 *
 * A part is written dirty, becomes clean by a rename once every rank has written its parts of that iteration,
 * and the older clean part is removed only once every rank has renamed: a crash at any moment leaves the newest
 * iteration whose parts all became clean loadable.
 */
export class LocalCheckpointManager {
  readonly root: string;
  private readonly repl: ReplicationStrategy | undefined;
  private readonly timeoutMs: number;
  private readonly fsync: boolean;
  private readonly logLine: (line: string) => void;
  private group: ProcessGroup | undefined;
  private agreed: Availability | undefined;
  /** Dirty files of saves not yet finalized: pruning leaves them alone. */
  private readonly pending = new Set<string>();
  /** What the last findLatest() found. */
  lastFindLatest: FindLatestReport | undefined;

  constructor(rootLocalCkptDir: string, options: LocalCheckpointManagerOptions = {}) {
    if (typeof rootLocalCkptDir !== 'string' || rootLocalCkptDir === '') throw new ConfigurationError('LocalCheckpointManager needs a root directory', { configKey: 'rootLocalCkptDir' });
    this.root = rootLocalCkptDir;
    this.repl = options.replStrategy;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    if (!(this.timeoutMs > 0)) throw new ConfigurationError(`timeoutMs must be > 0, got ${String(this.timeoutMs)}`, { configKey: 'timeoutMs' });
    this.fsync = options.fsync ?? true;
    this.group = options.processGroup;
    this.logLine = options.log ?? ((line) => process.stderr.write(`[eh local-checkpoint rank ${String(this.group?.rank ?? '?')}] ${line}\n`));
  }

  /** The directory this rank writes its own part and the replicas it keeps in. */
  get localDir(): string {
    return rankDir(this.root, this.pg.rank);
  }

  private get pg(): ProcessGroup {
    if (this.group === undefined) throw new ConfigurationError('LocalCheckpointManager: no process group yet');
    return this.group;
  }

  private async groupNow(): Promise<ProcessGroup> {
    if (this.group !== undefined) return this.group;
    const collective = await import('../../collective/index.js');
    if (collective.isInitialized()) this.group = collective.getProcessGroup();
    else if (Number(process.env.WORLD_SIZE ?? 1) > 1) {
      throw new ConfigurationError(`LocalCheckpointManager needs the process group (WORLD_SIZE=${process.env.WORLD_SIZE ?? ''}) but none is set up`, {
        configKey: 'processGroup',
        suggestions: ['Call setupDistributedEnvironment() before using the manager, or pass { processGroup }.'],
      });
    } else this.group = collective.ProcessGroup.single();
    return this.group;
  }

  /** The ranks holding `rank`'s part. */
  private cliqueOf(rank: number): number[] {
    return this.repl === undefined ? [rank] : this.repl.cliqueOf(rank, this.pg.worldSize);
  }

  private replication(): PartReplication | null {
    return this.repl === undefined ? null : { factor: this.repl.replicationFactor, jump: this.repl.replicationJump };
  }

  /** The newest iteration every rank can load (its own part, or a replica a clique peer holds); -1 when none. */
  async findLatest(): Promise<number> {
    const all = await this.agree('findLatest', await this.inventory(true, -1, 0));
    const found = findAvailable(all, (r) => this.cliqueOf(r));
    this.agreed = found;
    this.lastFindLatest = { iteration: found.latest, incomplete: found.incomplete };
    const missing = found.incomplete.map((x) => `iteration ${String(x.iteration)} misses part${x.missingParts.length > 1 ? 's' : ''} ${x.missingParts.join(', ')}`).join('; ');
    if (found.latest === -1 && found.incomplete.length > 0) this.logLine(`no local checkpoint is whole: ${missing} (no rank of their clique holds a good copy)`);
    else if (found.incomplete.length > 0) this.logLine(`falling back to iteration ${String(found.latest)}: ${missing}`);
    return found.latest;
  }

  /** This rank's part of the iteration findLatest() agreed on (found now if it was not called), fetched from a clique peer when missing here. */
  async load(): Promise<LocalLoadResult> {
    if (this.agreed === undefined) await this.findLatest();
    await this.agree('load', await this.inventory(false, -1, 0));
    const found = this.agreed as Availability;
    const g = this.pg;
    const it = found.latest;
    if (it === -1) {
      const detail = this.lastFindLatest?.incomplete.map((x) => `iteration ${String(x.iteration)} misses parts ${x.missingParts.join(', ')}`).join('; ');
      throw new CheckpointLoadError(`there is no whole local checkpoint under ${this.root}${detail ? `: ${detail}` : ''}`, {
        path: this.root,
        suggestions: ['Check findLatest() first: -1 means start from scratch or from another tier (e.g. the shared checkpoint).'],
      });
    }
    let mine: Uint8Array | undefined;
    let received = false;
    // Parts whose owner lacks them, each sent by the clique member that serves it to the owner only,
    // one exchange per round so that a rank serving several parts sends one buffer per call.
    const missing: number[] = [];
    for (let p = 0; p < g.worldSize; p++) if (found.sources[p] !== p) missing.push(p);
    while (missing.length > 0) {
      // A round: at most one part per serving rank (exchange sends one buffer per rank).
      const round: number[] = [];
      const busy = new Set<number>();
      for (let i = 0; i < missing.length; ) {
        const src = found.sources[missing[i]];
        if (busy.has(src)) i++;
        else {
          busy.add(src);
          round.push(missing[i]);
          missing.splice(i, 1);
        }
      }
      const serving = round.find((p) => found.sources[p] === g.rank);
      let out: Uint8Array = new Uint8Array(0);
      if (serving !== undefined) {
        out = await readWhole(path.join(this.localDir, partName(it, serving, false)));
        if (out.length !== found.sizes[serving]) throw new CheckpointLoadError(`replica of part ${String(serving)} of iteration ${String(it)} changed size since findLatest()`, { path: this.localDir });
      }
      const recvs = round.includes(g.rank) ? [{ src: found.sources[g.rank], buf: new Uint8Array(found.sizes[g.rank]) }] : [];
      await this.collective('load', () => g.exchange({ buf: out, peers: serving === undefined ? [] : [serving] }, recvs, { timeoutMs: this.timeoutMs }));
      if (recvs.length > 0) {
        mine = recvs[0].buf;
        received = true;
      }
    }
    const file = path.join(this.localDir, partName(it, g.rank, false));
    mine ??= await readWhole(file);
    const { meta, state } = decodePart(mine, received ? `part ${String(g.rank)} of iteration ${String(it)} from rank ${String(found.sources[g.rank])}` : file);
    if (meta.iteration !== it || meta.rank !== g.rank) throw new CheckpointLoadError(`part file holds iteration ${String(meta.iteration)} of rank ${String(meta.rank)}, not iteration ${String(it)} of rank ${String(g.rank)}`, { path: file });
    if (received) {
      // Keep the fetched part here too, so that this rank serves itself (and its clique) next time.
      await removeFiles([file + DIRTY_SUFFIX]);
      await writeNewFile(file + DIRTY_SUFFIX, mine, this.fsync);
      await commitFile(file + DIRTY_SUFFIX, this.fsync);
      this.logLine(`part ${String(g.rank)} of iteration ${String(it)} was missing here: received it from rank ${String(found.sources[g.rank])}`);
    }
    // Every rank returns together: a rank that served nothing and left at once (cleanupDistributed) would say goodbye
    // to peers still in an exchange of this load (seen under load in CI).
    await this.collective('load', () => g.barrier({ timeoutMs: this.timeoutMs }));
    return { stateDict: state, partId: { iteration: it, rank: g.rank } };
  }

  /**
   * Saves this rank's part of `iteration` and, with replication, sends it to the clique's other members (every rank
   * at once). Synchronous by default; with isAsync, the agreement and the exchange happen now and the writing is
   * returned as an AsyncRequest for an AsyncCallsQueue, whose finalization commits the iteration.
   */
  async save(taStateDict: TensorAwareStateDict, iteration: number, options: { isAsync: true }): Promise<AsyncRequest>;
  async save(taStateDict: TensorAwareStateDict, iteration: number, options?: { isAsync?: false }): Promise<undefined>;
  async save(taStateDict: TensorAwareStateDict, iteration: number, options: { isAsync?: boolean } = {}): Promise<AsyncRequest | undefined> {
    checkIteration(iteration);
    if (taStateDict === null || typeof taStateDict !== 'object' || !Array.isArray(taStateDict.tensors) || !('skeleton' in taStateDict)) {
      throw new ConfigurationError('save() needs a TensorAwareStateDict', { configKey: 'taStateDict', suggestions: ['Wrap the state: save(new BasicTensorAwareStateDict(state), iteration).'] });
    }
    const g = await this.groupNow();
    const isAsync = options.isAsync === true;
    const meta: PartMeta = { iteration, rank: g.rank, worldSize: g.worldSize, replication: this.replication() };
    const bytes = encodePart(taStateDict, meta, isAsync);
    const all = await this.agree('save', await this.inventory(false, iteration, bytes.length));
    const others = all.map((inv, r) => ({ r, it: inv.iteration })).filter((x) => x.it !== iteration);
    if (others.length > 0) {
      throw new ConfigurationError(`all ranks must save the same iteration: rank ${String(g.rank)} saves ${String(iteration)}, ${others.map((x) => `rank ${String(x.r)} saves ${String(x.it)}`).join(', ')}`, { configKey: 'iteration' });
    }
    // Keep only the newest whole iteration: anything else is older (not needed) or never became whole.
    const keep = findAvailable(all, (r) => this.cliqueOf(r)).latest;
    const stale = (await listParts(this.localDir)).filter((f) => (f.dirty ? !this.pending.has(f.file) : f.iteration !== keep));
    await removeFiles(stale.map((f) => f.file));
    const parts: DirtyPart[] = [{ file: path.join(this.localDir, partName(iteration, g.rank, true)), bytes }];
    if (this.repl !== undefined && g.worldSize > 1) {
      // One sparse exchange: this rank's part goes to its clique's other members only, and theirs come here.
      const peers = this.cliqueOf(g.rank).filter((r) => r !== g.rank);
      const recvs = peers.map((src) => {
        const size = all[src].newPartBytes;
        return { src, buf: isAsync ? new Uint8Array(new SharedArrayBuffer(size)) : new Uint8Array(size) };
      });
      await this.collective('save', () => g.exchange({ buf: bytes, peers }, recvs, { timeoutMs: this.timeoutMs }));
      for (const r of recvs) parts.push({ file: path.join(this.localDir, partName(iteration, r.src, true)), bytes: r.buf });
    }
    await removeFiles(parts.map((p) => p.file));
    for (const p of parts) this.pending.add(p.file);
    if (!isAsync) {
      let error: string | undefined;
      try {
        await Promise.all(parts.map((p) => writeNewFile(p.file, p.bytes, this.fsync)));
      } catch (err) {
        error = describeError(err);
      }
      await this.commit(iteration, parts, error);
      return undefined;
    }
    const status = new SharedArrayBuffer(4);
    const message = new SharedArrayBuffer(1024);
    return new AsyncRequest<Parameters<typeof writeDirtyParts>>({
      asyncFn: WRITE_DIRTY_PARTS,
      asyncFnArgs: [parts, this.fsync, status, message],
      finalizeFns: [
        async () => {
          const s = Atomics.load(new Int32Array(status), 0);
          await this.commit(iteration, parts, s === 1 ? undefined : s === 2 ? statusMessage(message) : 'the write did not run');
        },
      ],
    });
  }

  /** Every rank says whether it wrote its parts; all commit (dirty → clean, then the older parts go) or none does. */
  private async commit(iteration: number, parts: DirtyPart[], error: string | undefined): Promise<void> {
    const g = this.pg;
    const oks = await this.collective('save', () => g.allGather(new Int32Array([error === undefined ? 1 : 0]), { timeoutMs: this.timeoutMs }));
    const failed = [...oks].flatMap((ok, r) => (ok === 1 ? [] : [r]));
    if (failed.length > 0) {
      await removeFiles(parts.map((p) => p.file));
      for (const p of parts) this.pending.delete(p.file);
      throw new CheckpointSaveError(`local save of iteration ${String(iteration)} failed on rank${failed.length > 1 ? 's' : ''} ${failed.join(', ')}${error !== undefined ? ` (here: ${error})` : ''}; no rank committed it`, {
        path: this.localDir,
        suggestions: ['Check free space and permissions under the root directory on the ranks named; the previous clean iteration is still loadable.'],
      });
    }
    for (const p of parts) {
      await commitFile(p.file, this.fsync);
      this.pending.delete(p.file);
    }
    // The older clean parts go only once every rank has its new ones clean.
    await this.collective('save', () => g.barrier({ timeoutMs: this.timeoutMs }));
    const older = (await listParts(this.localDir)).filter((f) => !f.dirty && f.iteration < iteration);
    await removeFiles(older.map((f) => f.file));
    this.agreed = undefined;
  }

  /** This rank's clean parts, checked (header only, or every byte when `verify`), in one vector for the agreement. */
  private async inventory(verify: boolean, iteration: number, newPartBytes: number): Promise<Inventory> {
    const g = await this.groupNow();
    // Throws a ConfigurationError (on every rank alike) when the strategy does not fit the world.
    this.cliqueOf(g.rank);
    const holdings: Holding[] = [];
    let mismatch: Mismatch | undefined;
    const mine = this.replication();
    const clique = this.cliqueOf(g.rank);
    for (const f of await listParts(this.localDir)) {
      if (f.dirty) continue;
      let meta: PartMeta;
      let size: number;
      try {
        const bytes = verify ? await readWhole(f.file) : await readHeaderBytes(f.file);
        meta = verify ? decodePart(bytes, f.file).meta : readPartMeta(bytes, f.file);
        size = verify ? bytes.length : (await stat(f.file)).size;
      } catch (err) {
        this.logLine(`refused ${f.file}: ${describeError(err)}`);
        continue;
      }
      if (meta.iteration !== f.iteration || meta.rank !== f.part) {
        this.logLine(`refused ${f.file}: it holds iteration ${String(meta.iteration)} of rank ${String(meta.rank)}`);
        continue;
      }
      const same = meta.worldSize === g.worldSize && (meta.replication === null ? mine === null : mine !== null && meta.replication.factor === mine.factor && meta.replication.jump === mine.jump);
      if (!same) {
        mismatch ??= { iteration: meta.iteration, part: meta.rank, factor: meta.replication?.factor ?? 0, jump: meta.replication?.jump ?? 0, worldSize: meta.worldSize };
        continue;
      }
      if (!clique.includes(meta.rank)) continue;
      holdings.push({ iteration: meta.iteration, part: meta.rank, bytes: size });
    }
    return { iteration, newPartBytes, factor: mine?.factor ?? 0, jump: mine?.jump ?? 0, mismatch, holdings };
  }

  /** One small allGather of every rank's inventory; checks that all ranks use the same replication and none holds parts saved with other parameters. */
  private async agree(op: string, inv: Inventory): Promise<Inventory[]> {
    const g = this.pg;
    const packed = await this.collective(op, () => g.allGather(packInventory(inv), { timeoutMs: this.timeoutMs }));
    if (packed.length !== INVENTORY_LENGTH * g.worldSize) throw new Error('inventory size mismatch');
    const all = unpackInventories(packed, g.worldSize);
    const describe = (f: number, j: number): string => (f === 0 ? 'no replication' : `replicationFactor ${String(f)}, replicationJump ${String(j)}`);
    const differ = all.findIndex((x) => x.factor !== inv.factor || x.jump !== inv.jump);
    if (differ >= 0) {
      throw new ConfigurationError(`${op}: ranks use different replication: rank ${String(g.rank)} has ${describe(inv.factor, inv.jump)}, rank ${String(differ)} has ${describe(all[differ].factor, all[differ].jump)}`, {
        configKey: 'replStrategy',
        suggestions: ['Give every rank the same replStrategy.'],
      });
    }
    const bad = all.findIndex((x) => x.mismatch !== undefined);
    if (bad >= 0) {
      const m = all[bad].mismatch as Mismatch;
      throw new ConfigurationError(
        `${op}: rank ${String(bad)} holds part ${String(m.part)} of iteration ${String(m.iteration)} saved with ${describe(m.factor, m.jump)} in a world of ${String(m.worldSize)}, but this manager uses ${describe(inv.factor, inv.jump)} in a world of ${String(g.worldSize)}: the cliques differ, so its replicas cannot be trusted to be where they are looked for. Nothing was removed.`,
        {
          configKey: 'replStrategy',
          suggestions: ['Load with the replication parameters and world size the checkpoint was saved with, or move the old root directory away to start afresh.'],
        },
      );
    }
    return all;
  }

  /** Runs a collective step; a timeout becomes one naming the ranks that did not call `op`. */
  private async collective<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const { CollectiveTimeoutError } = await import('../../collective/index.js');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CollectiveTimeoutError && err.waitingFor.length > 0) {
        const who = err.waitingFor;
        throw new CollectiveTimeoutError(
          `LocalCheckpointManager.${op}() on rank ${String(this.pg.rank)}: rank${who.length > 1 ? 's' : ''} ${who.join(', ')} did not take part within ${String(this.timeoutMs)} ms (every rank must call ${op}() together): ${err.problem}`,
          who,
          { cause: err, reportedBy: err.reportedBy },
        );
      }
      throw err;
    }
  }
}
