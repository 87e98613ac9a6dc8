import { CheckpointManager, CheckpointTier, type CheckpointBackend, type CheckpointState } from '../checkpoint/index.js';
import { CheckpointTimeoutError, describeError } from '../errors/index.js';
import type { TrainerCheckpointConfig } from './config.js';
import { formatFilename } from './filename-template.js';

export interface BestCheckpoint {
  name: string;
  value: number;
}

export interface SavedCheckpoint {
  name: string;
  /** Where each tier put it. */
  paths: Partial<Record<CheckpointTier, string>>;
  /** Settles once every tier committed it. */
  done: Promise<void>;
}

/**
 * The trainer's checkpoint policy over the CheckpointManager's tiers: when to save (every n epochs and/or
 * steps), names from the template, every configured tier, asynchronous writes, and retention of the newest
 * `maxCheckpoints` per tier plus the best by the monitored metric.
 */
export class TrainerCheckpointer {
  readonly manager: CheckpointManager;
  best: BestCheckpoint | null = null;
  /** Checkpoints written per tier in this process (for the summary). */
  readonly written: Record<CheckpointTier, number> = { MEMORY: 0, NVME: 0, S3: 0 };
  private readonly pending = new Set<Promise<void>>();
  private lastSavedStep = -1;

  constructor(readonly config: TrainerCheckpointConfig, manager?: CheckpointManager, private readonly warn: (m: string) => void = (m) => process.stderr.write(`[eh trainer] ${m}\n`)) {
    this.manager = manager ?? new CheckpointManager({ nvmePath: config.rootDir, asyncSave: config.asyncSave, maxMemorySnapshots: config.maxCheckpoints + 1, keepLastN: config.maxCheckpoints + 1 });
  }

  shouldSaveAtStep(step: number): boolean {
    const n = this.config.saveEveryNSteps;
    return n !== null && step > 0 && step % n === 0;
  }

  shouldSaveAtEpochEnd(epoch: number): boolean {
    const n = this.config.saveEveryNEpochs;
    return n !== null && (epoch + 1) % n === 0;
  }

  shouldSnapshotToMemory(step: number): boolean {
    const n = this.config.memoryEveryNSteps;
    return n !== null && step > 0 && step % n === 0;
  }

  nameFor(epoch: number, step: number): string {
    return formatFilename(this.config.filenameTemplate, { epoch, step });
  }

  /** Whether `value` of the monitored metric beats the best so far. */
  isBetter(value: number): boolean {
    if (!Number.isFinite(value)) return false;
    if (this.best === null) return true;
    return this.config.monitorMode === 'min' ? value < this.best.value : value > this.best.value;
  }

  get alreadySavedStep(): number {
    return this.lastSavedStep;
  }

  /**
   * Saves `state` to `tiers` (default every configured tier). MEMORY copies at once; NVME and S3 are staged
   * and finish in the background when asyncSave (await `done` to know they committed).
   */
  async save(state: CheckpointState, options: { epoch: number; monitored?: number; tiers?: readonly CheckpointTier[] } = { epoch: 0 }): Promise<SavedCheckpoint> {
    const name = this.nameFor(options.epoch, state.step);
    const tiers = options.tiers ?? (this.config.tiers as CheckpointTier[]);
    const paths: Partial<Record<CheckpointTier, string>> = {};
    const jobs: Promise<void>[] = [];
    const isBest = this.config.monitorMetric !== null && options.monitored !== undefined && this.isBetter(options.monitored);
    if (isBest && options.monitored !== undefined) this.best = { name, value: options.monitored };
    for (const tier of tiers) {
      const backend = this.manager.backend(tier);
      if (tier === CheckpointTier.MEMORY || !this.config.asyncSave) {
        paths[tier] = await backend.save(state, name);
        this.written[tier] += 1;
        jobs.push(this.retain(backend));
        continue;
      }
      const p = await backend.saveAsync(state, name);
      paths[tier] = p.path;
      jobs.push(
        p.done.then(
          () => {
            this.written[tier] += 1;
            return this.retain(backend);
          },
          (err: unknown) => this.warn(`checkpoint ${name} on ${tier} failed; the previous ones stay: ${describeError(err)}`),
        ),
      );
    }
    this.lastSavedStep = state.step;
    const done = Promise.all(jobs).then(() => undefined);
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
    return { name, paths, done };
  }

  /** Keeps the newest maxCheckpoints committed checkpoints of a tier, and the best one besides. */
  private async retain(backend: CheckpointBackend): Promise<void> {
    try {
      const names = await backend.listCheckpoints();
      const keep = new Set(names.slice(-this.config.maxCheckpoints));
      if (this.config.saveBest && this.best !== null) keep.add(this.best.name);
      for (const n of names) if (!keep.has(n)) await backend.delete(n);
    } catch (err) {
      this.warn(`retention on ${backend.tier} failed: ${describeError(err)}`);
    }
  }

  /** Waits for background saves; a CheckpointTimeoutError if they take longer than `limitSec`. */
  async waitForPending(limitSec?: number): Promise<void> {
    const all = Promise.all([...this.pending]);
    if (limitSec === undefined) {
      await all;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), limitSec * 1000)))]);
    clearTimeout(timer);
    if (timedOut) throw new CheckpointTimeoutError(`checkpoint writes did not finish within ${limitSec} s`, { limitSec });
  }

  async close(): Promise<void> {
    await Promise.all([...this.pending]);
    await this.manager.close();
  }
}
