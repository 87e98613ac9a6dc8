/**
 * How carefully a checkpoint is read. Nothing in a checkpoint is ever evaluated whatever these say, and bounds
 * (paths, sizes, byte ranges) are always checked, since they protect this process rather than the data.
 */
export interface CheckpointLoadConfigOptions {
  /** Verify every checksum (default true). Turning it off only takes effect for a `trustedSource`. */
  safeMode?: boolean;
  /** Require the CheckpointState fields (step, modelStateDict, ...) with the right types (default true). */
  validateStructure?: boolean;
  /** Log a warning when checks are skipped or the checkpoint carries something unexpected (default true). */
  warnOnUnsafe?: boolean;
  /** The checkpoint comes from a source you trust: with safeMode false, checksums are skipped (default false). */
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

  /** Checksums are verified unless the caller both trusts the source and turned safe mode off. */
  get verifyChecksums(): boolean {
    return this.safeMode || !this.trustedSource;
  }

  warn(message: string): void {
    if (this.warnOnUnsafe) this.logger(message);
  }
}
