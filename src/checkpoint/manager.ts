import { setTimeout as sleep } from 'node:timers/promises';
import { CheckpointError, CheckpointLoadError, CheckpointSaveError, ConfigurationError, ElasticTrainingError, describeError } from '../errors/index.js';
import type { TrainingMetrics } from '../metrics/index.js';
import type { StagedWrite } from './async-save.js';
import { CheckpointConfig, type CheckpointConfigOptions } from './config.js';
import { CheckpointLoadConfig } from './load-config.js';
import { AgentMemoryBackend } from './agent-memory/backend.js';
import { agentHoldsMemory } from './agent-memory/client.js';
import { MemorySnapshotBackend } from './memory-backend.js';
import { checkpointName, stepOfName } from './names.js';
import { NVMeBackend } from './nvme-backend.js';
import { PersistentAsyncCaller } from './persistent-caller.js';
import { S3Backend } from './s3-backend.js';
import { StagingPool, stagingLayout } from './staging.js';
import { planCheckpoint } from './plan.js';
import { encodeState } from './state-dict.js';
import type { CheckpointState, LoadInfo, UnreadableTier } from './state.js';
import { CheckpointTier, type CheckpointBackend } from './tier.js';

/** A backend that can stage a state for the writer thread (NVMe and S3 can). */
export interface AsyncCapableBackend extends CheckpointBackend {
  stageAsync(state: CheckpointState, name?: string): Promise<StagedWrite>;
}

export interface CheckpointManagerOptions {
  /**
   * The MEMORY tier. Default: under `eh run`, an AgentMemoryBackend (held by the agent, copied to a peer node's
   * agent); otherwise an in-process MemorySnapshotBackend.
   */
  memoryBackend?: CheckpointBackend;
  nvmeBackend?: AsyncCapableBackend;
  s3Backend?: AsyncCapableBackend;
  /** Where warnings go; default one line on stderr. */
  logger?: (message: string) => void;
  /**
   * Every successful save and load is recorded here (`metrics.checkpoint`: tier, seconds, tensor bytes). A
   * synchronous save and a MEMORY snapshot count as blocking; an asynchronous save is recorded when it commits,
   * with the time from the call to the commit, as not blocking.
   */
  metrics?: TrainingMetrics;
}

export interface LoadCheckpointOptions {
  /** A checkpoint name (e.g. step_00001000); default the newest whole one. */
  path?: string;
  /** Only this tier; default every tier, newest step first (memory first on a tie). */
  tier?: CheckpointTier;
  config?: CheckpointLoadConfig;
}

const TIER_ORDER: CheckpointTier[] = [CheckpointTier.MEMORY, CheckpointTier.NVME, CheckpointTier.S3];

function hasStage(b: CheckpointBackend): b is AsyncCapableBackend {
  return typeof (b as Partial<AsyncCapableBackend>).stageAsync === 'function';
}

/** Saves to and loads from the three tiers, with asynchronous saves, failure policies and retention. */
export class CheckpointManager {
  readonly config: CheckpointConfig;
  readonly memory: CheckpointBackend;
  readonly stagingPool: StagingPool;
  readonly caller: PersistentAsyncCaller;
  /** The tier the last successful loadCheckpoint() read from. */
  lastLoadedTier: CheckpointTier | null = null;
  /** What the last successful loadCheckpoint() read, and which tiers it could not read (also on the state it returned). */
  lastLoad: LoadInfo | null = null;
  readonly metrics?: TrainingMetrics;
  private nvme?: AsyncCapableBackend;
  private s3?: AsyncCapableBackend;
  private readonly logger: (message: string) => void;
  private readonly pending = new Set<Promise<void>>();
  private failedSinceWait = false;
  private deferredError: CheckpointSaveError | undefined;

  constructor(config: CheckpointConfig | CheckpointConfigOptions = {}, options: CheckpointManagerOptions = {}) {
    this.config = config instanceof CheckpointConfig ? config : new CheckpointConfig(config);
    this.logger = options.logger ?? ((m) => process.stderr.write(`[eh checkpoint] ${m}\n`));
    this.caller = new PersistentAsyncCaller();
    if (this.config.asyncSave) this.caller.start();
    this.stagingPool = new StagingPool(this.config.maxStagingBuffers);
    this.memory =
      options.memoryBackend ??
      (agentHoldsMemory()
        ? new AgentMemoryBackend({ maxMemoryMb: this.config.maxMemoryMb, logger: this.logger })
        : new MemorySnapshotBackend({ maxSnapshots: this.config.maxMemorySnapshots, maxMemoryMb: this.config.maxMemoryMb }));
    this.nvme = options.nvmeBackend;
    this.s3 = options.s3Backend;
    this.metrics = options.metrics;
  }

  /** The backend of a tier; asking for S3 with no bucket configured is a ConfigurationError. */
  backend(tier: CheckpointTier): CheckpointBackend {
    if (tier === CheckpointTier.MEMORY) return this.memory;
    if (tier === CheckpointTier.NVME) {
      this.nvme ??= new NVMeBackend(this.config.nvmePath, { fsync: this.config.fsync, caller: this.caller, stagingPool: this.stagingPool });
      return this.nvme;
    }
    if (tier === CheckpointTier.S3) {
      if (this.s3 === undefined) {
        if (this.config.s3Bucket === null) {
          throw new ConfigurationError('The S3 tier was asked for but no S3 bucket is configured', {
            configKey: 's3Bucket',
            suggestions: ['Set s3Bucket in CheckpointConfig (and s3Endpoint for an S3-compatible server), or save to NVME.'],
          });
        }
        const c = this.config;
        this.s3 = new S3Backend({ ...c.s3Options, bucket: c.s3Bucket!, prefix: c.s3Prefix, region: c.s3Region, endpoint: c.s3Endpoint, forcePathStyle: c.s3ForcePathStyle, credentials: c.s3Credentials, caller: this.caller, stagingPool: this.stagingPool });
      }
      return this.s3;
    }
    throw new ConfigurationError(`Unknown checkpoint tier ${JSON.stringify(tier)}`, { configKey: 'tier', suggestions: ['Use CheckpointTier.MEMORY, NVME or S3.'] });
  }

  /**
   * Allocates (and touches) staging memory now for states like `state` (or of `bytes`), so that the first
   * asynchronous save pauses no longer than later ones.
   */
  reserveStaging(stateOrBytes: CheckpointState | number): void {
    if (typeof stateOrBytes === 'number') return this.stagingPool.reserve(stateOrBytes);
    const { sources } = planCheckpoint(stateOrBytes.toDict(), { step: stateOrBytes.step });
    this.stagingPool.reserve(stagingLayout(sources).bytes);
  }

  shouldCheckpoint(step: number, tier: CheckpointTier): boolean {
    this.throwIfFailed();
    const every = tier === CheckpointTier.MEMORY ? this.config.memorySnapshotInterval : this.config.checkpointInterval;
    return step > 0 && step % every === 0;
  }

  /**
   * Saves to one tier and returns where. MEMORY copies synchronously. NVME and S3 with asyncSave return once
   * the state is staged (the checkpoint commits in the background); otherwise once it is committed. A failed
   * save follows asyncSavePolicy; with "warn" a synchronous failure returns null.
   */
  async saveCheckpoint(state: CheckpointState, tier: CheckpointTier = CheckpointTier.NVME): Promise<string | null> {
    this.throwIfFailed();
    const backend = this.backend(tier);
    const name = checkpointName(state.step);
    const t0 = performance.now();
    if (tier === CheckpointTier.MEMORY) {
      const path = await backend.save(state, name);
      this.metrics?.checkpoint.recordSave(tier, (performance.now() - t0) / 1000, { bytes: tensorBytes(state) });
      await backend.cleanupOldCheckpoints(this.config.keepLastFor(tier));
      return path;
    }
    if (this.config.asyncSave && hasStage(backend)) {
      const write = await backend.stageAsync(state, name);
      const job = this.runWithPolicy(backend, name, () => write.run(), false, () => {
        this.metrics?.checkpoint.recordSave(backend.tier, (performance.now() - t0) / 1000, { bytes: write.totalBytes, blocking: false });
      }).finally(write.release);
      const tracked = job.then(() => undefined, () => undefined);
      this.pending.add(tracked);
      void tracked.finally(() => this.pending.delete(tracked));
      return pathOf(backend, name);
    }
    let saved: string | null = null;
    await this.runWithPolicy(backend, name, async () => {
      saved = await backend.save(state, name);
      return saved;
    }, true, () => this.metrics?.checkpoint.recordSave(backend.tier, (performance.now() - t0) / 1000, { bytes: tensorBytes(state) }));
    return saved;
  }

  /** Runs a save with the configured policy; failures are recorded (or thrown when `rethrow`). */
  private async runWithPolicy(backend: CheckpointBackend, name: string, attempt: () => Promise<string>, rethrow = false, onCommitted?: () => void): Promise<void> {
    const policy = this.config.asyncSavePolicy;
    const attempts = policy === 'retry' ? this.config.asyncSaveRetries + 1 : 1;
    for (let n = 0; ; n++) {
      try {
        await attempt();
        onCommitted?.();
        break;
      } catch (err) {
        const e = err instanceof CheckpointSaveError ? err : new CheckpointSaveError(`Saving ${name} failed: ${describeError(err)}`, { tier: backend.tier, cause: err });
        if (n + 1 < attempts) {
          const delay = this.config.asyncSaveRetryDelay * 1000 * 2 ** n;
          this.logger(`saving ${name} to ${backend.tier} failed (attempt ${n + 1} of ${attempts}), retrying in ${delay} ms: ${e.problem}`);
          await sleep(delay);
          continue;
        }
        if (policy === 'warn') {
          this.logger(`saving ${name} to ${backend.tier} failed; training goes on, the previous checkpoint stays: ${e.problem}`);
          // A synchronous caller sees null, and the next waitForPendingSaves() answers false, as for a background failure.
          this.failedSinceWait = true;
          return;
        }
        if (rethrow) throw e;
        this.deferredError ??= e;
        return;
      }
    }
    try {
      await backend.cleanupOldCheckpoints(this.config.keepLastFor(backend.tier));
    } catch (err) {
      this.logger(`retention on ${backend.tier} failed: ${describeError(err)}`);
    }
  }

  private throwIfFailed(): void {
    const e = this.deferredError;
    if (e !== undefined) {
      this.deferredError = undefined;
      throw e;
    }
  }

  /**
   * Waits for background saves. False if `timeoutMs` passed first or a save failed under "warn" since the last
   * call; a failure under "fail" / "retry" is raised.
   */
  async waitForPendingSaves(timeoutMs?: number): Promise<boolean> {
    const all = Promise.all([...this.pending]);
    if (timeoutMs !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
      clearTimeout(timer);
      if (timedOut) return false;
    } else {
      await all;
    }
    this.throwIfFailed();
    const ok = !this.failedSinceWait;
    this.failedSinceWait = false;
    return ok;
  }

  get pendingSaves(): number {
    return this.pending.size;
  }

  clearMemorySnapshots(): void {
    const m = this.memory as Partial<MemorySnapshotBackend>;
    if (typeof m.clear === 'function') m.clear.call(this.memory);
    else void this.memory.cleanupOldCheckpoints(0);
  }

  /**
   * Loads the newest whole checkpoint: from every tier (memory, then NVMe, then S3) unless one is named, newest
   * step first. A checkpoint that fails to load or verify is skipped with a warning and the next one tried.
   * Returns null only when every tier was read and none holds a checkpoint.
   *
   * A tier that cannot be listed (S3 down, credentials refused) is never taken for an empty one: when it was the
   * tier asked for, or when no other tier holds a checkpoint, this raises CheckpointLoadError naming the tier and
   * the cause; when another tier answered, its checkpoint is returned and `state.loadInfo.unreadableTiers` (and
   * `lastLoad`) name the tiers that could not be read, with a warning.
   */
  async loadCheckpoint(options: LoadCheckpointOptions = {}): Promise<CheckpointState | null> {
    this.throwIfFailed();
    const t0 = performance.now();
    const config = options.config ?? new CheckpointLoadConfig({ logger: this.logger });
    const tiers = options.tier !== undefined ? [options.tier] : TIER_ORDER.filter((t) => t !== CheckpointTier.S3 || this.config.s3Bucket !== null || this.s3 !== undefined);
    const candidates: Array<{ tier: CheckpointTier; name: string; order: number }> = [];
    const unreadable: Array<UnreadableTier & { error: unknown }> = [];
    for (const [order, tier] of tiers.entries()) {
      const backend = this.backend(tier);
      try {
        if (options.path !== undefined) {
          if (options.tier !== undefined || (await backend.exists(options.path))) candidates.push({ tier, name: options.path, order });
        } else {
          for (const name of await backend.listCheckpoints()) candidates.push({ tier, name, order });
        }
      } catch (err) {
        unreadable.push({ tier, reason: err instanceof ElasticTrainingError ? err.problem : describeError(err), error: err });
      }
    }
    if (unreadable.length > 0 && (options.tier !== undefined || candidates.length === 0)) throw unreadableError(unreadable);
    for (const u of unreadable) this.logger(`cannot read tier ${u.tier}; loading from the other tiers, which may hold an older checkpoint: ${u.reason}`);
    candidates.sort((a, b) => stepOfName(b.name) - stepOfName(a.name) || a.order - b.order);
    for (const c of candidates) {
      try {
        const state = await this.backend(c.tier).load(c.name, config);
        const from = state.loadInfo;
        const info: LoadInfo = { tier: c.tier, name: c.name, unreadableTiers: unreadable.map(({ tier, reason }) => ({ tier, reason })), ...(from?.source !== undefined ? { source: from.source, sourceNode: from.sourceNode } : {}) };
        state.loadInfo = info;
        this.logger(`loaded ${c.name} from tier ${c.tier}${info.source !== undefined ? ` (${info.source === 'agent' ? "this node's agent" : `the agent of node ${info.sourceNode ?? '?'}`})` : ''}`);
        this.lastLoad = info;
        this.lastLoadedTier = c.tier;
        this.metrics?.checkpoint.recordLoad(c.tier, (performance.now() - t0) / 1000, { bytes: tensorBytes(state) });
        return state;
      } catch (err) {
        if (options.path !== undefined && options.tier !== undefined) throw err;
        if (!(err instanceof CheckpointError)) throw err;
        this.logger(`skipping checkpoint ${c.name} on ${c.tier}: ${err.problem}`);
      }
    }
    return null;
  }

  /** Waits for background saves, then stops the writer thread (at once with `abort`). */
  async close(options: { abort?: boolean } = {}): Promise<void> {
    if (options.abort !== true) await Promise.all([...this.pending]);
    await this.caller.close(options);
  }
}

/** Bytes of tensor data in a state (what the metrics count as a checkpoint's size). */
function tensorBytes(state: CheckpointState): number {
  return encodeState(state.toDict()).tensors.reduce((n, t) => n + t.data.byteLength, 0);
}

function unreadableError(unreadable: Array<UnreadableTier & { error: unknown }>): CheckpointLoadError {
  const list = unreadable.map((u) => `tier ${u.tier}: ${u.reason}`).join('; ');
  return new CheckpointLoadError(`Cannot tell whether a checkpoint exists: ${list}`, {
    tier: unreadable.map((u) => u.tier).join(', '),
    cause: unreadable[0].error,
    suggestions: [
      'Fix the tier named (is the S3 endpoint up, are the credentials right?) and start again: starting from step 0 could overwrite newer checkpoints.',
      'To start afresh on purpose, load from another tier only: loadCheckpoint({ tier: CheckpointTier.NVME }).',
    ],
  });
}

function pathOf(backend: CheckpointBackend, name: string): string {
  const b = backend as { pathOf?: (n: string) => string };
  return typeof b.pathOf === 'function' ? b.pathOf(name) : name;
}
