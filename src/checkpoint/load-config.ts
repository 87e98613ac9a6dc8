/**
 * How carefully a checkpoint is read. Nothing in a checkpoint is ever evaluated whatever these say, and bounds
 * (paths, sizes, byte ranges) are always checked, since they protect this process rather than the data.
 */
export interface CheckpointLoadConfigOptions {
  /** Verify every checksum (default true). Off, the data is taken as read, with a warning (see trustedSource). */
  safeMode?: boolean;
  /** Require the CheckpointState fields (step, modelStateDict, ...) with the right types (default true). */
  validateStructure?: boolean;
  /** Log a warning when checks are skipped or the checkpoint carries something unexpected (default true). */
  warnOnUnsafe?: boolean;
  /**
   * The reference's meaning: the checkpoint comes from a source you trust, so security warnings (checks skipped
   * with safeMode off) are suppressed (default false). It turns no check off by itself.
   */
  trustedSource?: boolean;
  /** Where warnings go; default: one line on stderr. */
  logger?: (message: string) => void;
}

export class CheckpointLoadConfig {
  readonly safeMode: boolean;
  readonly validateStructure: boolean;
  readonly warnOnUnsafe: boolean;
  readonly trustedSource: boolean;
  readonly logger: (message: string) => void;

  constructor(options: CheckpointLoadConfigOptions = {}) {
    this.safeMode = options.safeMode ?? true;
    this.validateStructure = options.validateStructure ?? true;
    this.warnOnUnsafe = options.warnOnUnsafe ?? true;
    this.trustedSource = options.trustedSource ?? false;
    this.logger = options.logger ?? ((m) => process.stderr.write(`[eh checkpoint] ${m}\n`));
  }

  /** Checksums are verified unless safe mode is off. */
  get verifyChecksums(): boolean {
    return this.safeMode;
  }

  /** A security warning: logged with warnOnUnsafe, unless the source is trusted. */
  warn(message: string): void {
    if (this.warnOnUnsafe && !this.trustedSource) this.logger(message);
  }
}
