import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { CheckpointLoadError, CheckpointValidationError, ConfigurationError } from '../errors/index.js';
import { runStaged, stageWrite } from './async-save.js';
import { CheckpointLoadConfig } from './load-config.js';
import { readLocalCheckpoint, readLocalMarkerStep } from './local-read.js';
import { fsyncDir, removeStaleTemporaries, trashName, writeLocalCheckpoint } from './local-write.js';
import { COMMIT_FILE } from './manifest.js';
import { deleteAllButNewest, newestListed } from './retention.js';
import { assertNameOfStep, assertValidName, checkpointName, isValidName, nameAgreesWithStep, sortByStep, stepOfName } from './names.js';
import { sharedCaller, type PersistentAsyncCaller } from './persistent-caller.js';
import { planCheckpoint } from './plan.js';
import { StagingPool } from './staging.js';
import { CheckpointState } from './state.js';
import { CheckpointTier, type CheckpointBackend, type PendingSave } from './tier.js';

export interface NVMeBackendOptions {
  /**
   * Saves are always atomic (temporary directory, marker, rename into place): `true` (the default) is accepted,
   * `false` is refused with a ConfigurationError, since a non-atomic save could leave a half checkpoint under a
   * checkpoint's name, and an atomic one costs no more here.
   */
  useAtomicSave?: boolean;
  /** fsync files and directories (default true). */
  fsync?: boolean;
  /** The writer thread for saveAsync; default one shared by all backends. */
  caller?: PersistentAsyncCaller;
  /** Staging buffers for saveAsync; default a pool of this backend's own. */
  stagingPool?: StagingPool;
  /** Used by load() when no config is passed. */
  loadConfig?: CheckpointLoadConfig;
}

/** Checkpoints in a local directory, one subdirectory each, committed atomically. */
export class NVMeBackend implements CheckpointBackend {
  readonly tier = CheckpointTier.NVME;
  readonly root: string;
  private readonly fsync: boolean;
  private readonly caller: PersistentAsyncCaller;
  readonly stagingPool: StagingPool;
  private readonly loadConfig: CheckpointLoadConfig;

  constructor(root: string, options: NVMeBackendOptions = {}) {
    if (options.useAtomicSave !== undefined && options.useAtomicSave !== true) {
      throw new ConfigurationError(`NVMeBackend saves are always atomic; useAtomicSave: ${JSON.stringify(options.useAtomicSave)} is not supported`, {
        configKey: 'useAtomicSave',
        suggestions: ['Leave useAtomicSave out (or true): the atomic save (temporary directory, commit marker, rename) is as fast as writing in place, and a crash never leaves half a checkpoint.'],
      });
    }
    this.root = path.resolve(root);
    this.fsync = options.fsync ?? true;
    this.caller = options.caller ?? sharedCaller();
    this.stagingPool = options.stagingPool ?? new StagingPool();
    this.loadConfig = options.loadConfig ?? new CheckpointLoadConfig();
  }

  pathOf(name: string): string {
    assertValidName(name, this.tier);
    return path.join(this.root, name);
  }

  async save(state: CheckpointState, name = checkpointName(state.step)): Promise<string> {
    assertValidName(name, this.tier);
    assertNameOfStep(name, state.step, this.tier);
    await removeStaleTemporaries(this.root);
    const { plan, sources } = planCheckpoint(state.toDict(), { step: state.step, worldSize: state.worldSize, timestamp: state.timestamp });
    return writeLocalCheckpoint(this.root, name, plan, sources, { fsync: this.fsync });
  }

  async saveAsync(state: CheckpointState, name = checkpointName(state.step)): Promise<PendingSave> {
    return runStaged(await this.stageAsync(state, name), this.pathOf(name));
  }

  /** Stages `state` for the writer thread; the manager drives retries through the returned write. */
  async stageAsync(state: CheckpointState, name = checkpointName(state.step)): Promise<Awaited<ReturnType<typeof stageWrite>>> {
    assertValidName(name, this.tier);
    assertNameOfStep(name, state.step, this.tier);
    return stageWrite(state.toDict(), state.step, state.worldSize, { kind: 'local', root: this.root, fsync: this.fsync }, name, this.stagingPool, this.caller);
  }

  async load(name?: string, config: CheckpointLoadConfig = this.loadConfig): Promise<CheckpointState> {
    const n = name ?? (await this.getLatestCheckpoint());
    if (n === null) throw new CheckpointLoadError('No committed checkpoint in this directory', { tier: this.tier, path: this.root });
    const dir = this.pathOf(n);
    const { manifest, state } = await readLocalCheckpoint(dir, config);
    if (!nameAgreesWithStep(n, manifest.step)) {
      throw new CheckpointValidationError(`Checkpoint ${n} holds step ${manifest.step}, not the step ${stepOfName(n)} its name says (copied or renamed): it does not count`, { tier: this.tier, path: dir });
    }
    return CheckpointState.fromDict(state, { validate: config.validateStructure, where: dir });
  }

  async exists(name: string): Promise<boolean> {
    if (!isValidName(name)) return false;
    try {
      const [d, m] = await Promise.all([fsp.lstat(path.join(this.root, name)), fsp.lstat(path.join(this.root, name, COMMIT_FILE))]);
      return d.isDirectory() && m.isFile();
    } catch {
      return false;
    }
  }

  async listCheckpoints(prefix = ''): Promise<string[]> {
    let entries;
    try {
      entries = await fsp.readdir(this.root, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const names = entries.filter((e) => e.isDirectory() && isValidName(e.name) && e.name.startsWith(prefix)).map((e) => e.name);
    // A directory whose marker records another step than its name (a copy) does not count; an unreadable marker
    // is left in, for load() to report.
    const counted = await Promise.all(names.map(async (n) => {
      if (!(await this.exists(n))) return null;
      const step = await readLocalMarkerStep(path.join(this.root, n));
      return step === null || nameAgreesWithStep(n, step) ? n : null;
    }));
    return sortByStep(counted.filter((n): n is string => n !== null));
  }

  /**
   * Renames the checkpoint to a hidden name first (atomic: it stops being a checkpoint at once), then removes it;
   * a crash in between leaves only a hidden leftover that the next save or cleanup removes.
   */
  async delete(name: string): Promise<void> {
    const dir = this.pathOf(name);
    const trash = path.join(this.root, trashName(name));
    try {
      await fsp.rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (this.fsync) await fsyncDir(this.root);
    await fsp.rm(trash, { recursive: true, force: true });
  }

  async getLatestCheckpoint(): Promise<string | null> {
    return newestListed(this);
  }

  /**
   * Calls made while one runs share the next run (with the smallest keepLast asked for): callers that
   * clean up after every save must not pile up concurrent deletes, each leaving a hidden directory
   * behind if the process dies.
   */
  cleanupOldCheckpoints(keepLast: number): Promise<string[]> {
    const queued = this.cleanupQueued;
    if (queued !== null) {
      queued.keep = Math.min(queued.keep, keepLast);
      return queued.promise;
    }
    const running = this.cleanupRunning;
    const entry = { keep: keepLast, promise: Promise.resolve<string[]>([]) };
    const run =
      running === null
        ? this.cleanupOnce(keepLast)
        : running
            .catch(() => [])
            .then(() => {
              this.cleanupQueued = null;
              return this.cleanupOnce(entry.keep);
            });
    entry.promise = run.finally(() => {
      if (this.cleanupRunning === entry.promise) this.cleanupRunning = null;
    });
    if (running !== null) this.cleanupQueued = entry;
    this.cleanupRunning = entry.promise;
    return entry.promise;
  }

  private cleanupRunning: Promise<string[]> | null = null;
  private cleanupQueued: { keep: number; promise: Promise<string[]> } | null = null;

  private async cleanupOnce(keepLast: number): Promise<string[]> {
    const drop = await deleteAllButNewest(this, keepLast);
    await removeStaleTemporaries(this.root);
    return drop;
  }
}
