import { ElasticTrainingError, type ElasticErrorOptions } from './base.js';

export interface CheckpointErrorOptions extends ElasticErrorOptions {
  /** The checkpoint (directory, file or object key) concerned. */
  path?: string;
  /** The tier concerned: MEMORY, NVME or S3. */
  tier?: string;
}

function located(message: string, path?: string, tier?: string): string {
  const where = [tier !== undefined ? `tier ${tier}` : '', path !== undefined ? path : ''].filter((s) => s !== '').join(', ');
  return where === '' ? message : `${message} [${where}]`;
}

/** Base of the checkpoint errors. */
export class CheckpointError extends ElasticTrainingError {
  readonly path?: string;
  readonly tier?: string;

  constructor(message: string, options: CheckpointErrorOptions = {}) {
    super(located(message, options.path, options.tier), options);
    this.path = options.path;
    this.tier = options.tier;
  }
}

/** A checkpoint could not be read (missing, unreadable, truncated). */
export class CheckpointLoadError extends CheckpointError {
  constructor(message: string, options: CheckpointErrorOptions = {}) {
    super(message, { ...options, suggestions: options.suggestions ?? ['The manager falls back to the newest whole checkpoint; pass an explicit path only if you need this one.'] });
  }
}

/** A checkpoint could not be written (disk full, permissions, object store unreachable). */
export class CheckpointSaveError extends CheckpointError {
  constructor(message: string, options: CheckpointErrorOptions = {}) {
    super(message, { ...options, suggestions: options.suggestions ?? ['Check free space and permissions of the target, or the object store\'s reachability; earlier committed checkpoints are untouched.'] });
  }
}

export interface CheckpointValidationErrorOptions extends CheckpointErrorOptions {
  missingKeys?: string[];
  invalidKeys?: string[];
}

/** A checkpoint's content is not what it claims (bad checksum, bad manifest, unexpected structure). */
export class CheckpointValidationError extends CheckpointError {
  readonly missingKeys: string[];
  readonly invalidKeys: string[];

  constructor(message: string, options: CheckpointValidationErrorOptions = {}) {
    const missingKeys = options.missingKeys ?? [];
    const invalidKeys = options.invalidKeys ?? [];
    const parts = [message];
    if (missingKeys.length > 0) parts.push(`missing keys: ${missingKeys.join(', ')}`);
    if (invalidKeys.length > 0) parts.push(`invalid keys: ${invalidKeys.join(', ')}`);
    super(parts.join('; '), { ...options, suggestions: options.suggestions ?? ['Do not load this checkpoint; it is corrupt or foreign. Older committed checkpoints are still used by loadCheckpoint().'] });
    this.missingKeys = missingKeys;
    this.invalidKeys = invalidKeys;
  }
}
