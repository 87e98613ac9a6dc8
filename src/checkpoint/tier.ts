import type { CheckpointLoadConfig } from './load-config.js';
import type { CheckpointState } from './state.js';

export const CheckpointTier = {
  /** In memory: fastest, lost with the process holding it. */
  MEMORY: 'MEMORY',
  /** A local directory (NVMe or any disk). */
  NVME: 'NVME',
  /** An S3-compatible object store: slowest, most durable. */
  S3: 'S3',
} as const;
export type CheckpointTier = (typeof CheckpointTier)[keyof typeof CheckpointTier];

/** The method set every tier offers, so that the manager (and users) treat them alike. */
export interface CheckpointBackend {
  readonly tier: CheckpointTier;
  /** Saves durably (for this tier) and returns the checkpoint's location. `name` defaults to step_<step>. */
  save(state: CheckpointState, name?: string): Promise<string>;
  /**
   * Starts a save that finishes in the background: the promise resolves once the state is copied (the caller
   * may then change it), and its `done` settles when the checkpoint is committed (or the save failed).
   */
  saveAsync(state: CheckpointState, name?: string): Promise<PendingSave>;
  /** Loads and verifies a checkpoint; the newest committed one without a name. */
  load(name?: string, config?: CheckpointLoadConfig): Promise<CheckpointState>;
  exists(name: string): Promise<boolean>;
  /** Committed checkpoints, oldest first (by step number), optionally only names starting with `prefix`. */
  listCheckpoints(prefix?: string): Promise<string[]>;
  delete(name: string): Promise<void>;
  getLatestCheckpoint(): Promise<string | null>;
  /** Deletes all but the newest `keepLast` committed checkpoints; returns the deleted names. */
  cleanupOldCheckpoints(keepLast: number): Promise<string[]>;
}

/** A save under way in the background. */
export interface PendingSave {
  /** Where the checkpoint will be. */
  path: string;
  /** Settles when it is committed; rejects with CheckpointSaveError if it could not be. */
  done: Promise<string>;
}
