import { assertS3Prefix } from '../config/index.js';
import { ConfigurationError } from '../errors/index.js';
import type { S3Settings } from './s3-settings.js';
import { check, intAtLeast, numberAbove, oneOf } from '../errors/index.js';

export type AsyncSavePolicy = 'warn' | 'fail' | 'retry';

/** keepLastN for every tier, or per tier (tiers left out keep the default 3). */
export type KeepLastN = number | { MEMORY?: number; NVME?: number; S3?: number };

export interface CheckpointConfigOptions {
  /** Steps between NVMe/S3 checkpoints (default 500). */
  checkpointInterval?: number;
  /** Steps between memory snapshots (default 50). */
  memorySnapshotInterval?: number;
  /** Local checkpoint directory (default /tmp/checkpoints). */
  nvmePath?: string;
  /** S3 bucket for durable storage; null disables the S3 tier (default null). */
  s3Bucket?: string | null;
  /** Key prefix (default ""): plain segments joined by "/"; a leading "/", "." / ".." or empty segments are refused. */
  s3Prefix?: string;
  s3Region?: string;
  /** URL of an S3-compatible server. */
  s3Endpoint?: string;
  s3ForcePathStyle?: boolean;
  s3Credentials?: S3Settings['credentials'];
  /** Further S3 settings (part size, attempts, timeouts, ...). */
  s3Options?: Omit<S3Settings, 'bucket' | 'prefix' | 'region' | 'endpoint' | 'forcePathStyle' | 'credentials'>;
  /** Save NVME and S3 checkpoints in the background after a staging copy (default true). */
  asyncSave?: boolean;
  /** Committed checkpoints retained per tier (default 3); MEMORY's retention is maxMemorySnapshots unless given here. */
  keepLastN?: KeepLastN;
  /** What a failed save does: warn (log; waitForPendingSaves reports false), fail (raise at the next call), retry. */
  asyncSavePolicy?: AsyncSavePolicy;
  /** Attempts after the first under "retry" (default 3). */
  asyncSaveRetries?: number;
  /** Base delay in seconds between retries, doubled each time (default 5.0). */
  asyncSaveRetryDelay?: number;
  /** Memory snapshots held (default 2). */
  maxMemorySnapshots?: number;
  /** Memory tier limit in MiB; null for none (default). */
  maxMemoryMb?: number | null;
  /** Staging buffers for asynchronous saves (default 2): with all in flight, the next save waits for one. */
  maxStagingBuffers?: number;
  /** fsync local files and directories (default true). */
  fsync?: boolean;
}

// The package's one check (src/errors/checks.ts).
const positiveInt = (value: unknown, key: string, min = 1): number => check(value, key, intAtLeast(min));

export class CheckpointConfig {
  readonly checkpointInterval: number;
  readonly memorySnapshotInterval: number;
  readonly nvmePath: string;
  readonly s3Bucket: string | null;
  readonly s3Prefix: string;
  readonly s3Region?: string;
  readonly s3Endpoint?: string;
  readonly s3ForcePathStyle?: boolean;
  readonly s3Credentials?: S3Settings['credentials'];
  readonly s3Options: NonNullable<CheckpointConfigOptions['s3Options']>;
  readonly asyncSave: boolean;
  readonly keepLastN: KeepLastN;
  readonly asyncSavePolicy: AsyncSavePolicy;
  readonly asyncSaveRetries: number;
  readonly asyncSaveRetryDelay: number;
  readonly maxMemorySnapshots: number;
  readonly maxMemoryMb: number | null;
  readonly maxStagingBuffers: number;
  readonly fsync: boolean;

  constructor(options: CheckpointConfigOptions = {}) {
    this.checkpointInterval = positiveInt(options.checkpointInterval ?? 500, 'checkpointInterval');
    this.memorySnapshotInterval = positiveInt(options.memorySnapshotInterval ?? 50, 'memorySnapshotInterval');
    this.nvmePath = options.nvmePath ?? '/tmp/checkpoints';
    if (typeof this.nvmePath !== 'string' || this.nvmePath === '') throw new ConfigurationError('nvmePath must be a directory path', { configKey: 'nvmePath' });
    this.s3Bucket = options.s3Bucket === undefined || options.s3Bucket === '' ? null : options.s3Bucket;
    this.s3Prefix = assertS3Prefix(options.s3Prefix ?? '');
    this.s3Region = options.s3Region;
    this.s3Endpoint = options.s3Endpoint;
    this.s3ForcePathStyle = options.s3ForcePathStyle;
    this.s3Credentials = options.s3Credentials;
    this.s3Options = options.s3Options ?? {};
    this.asyncSave = options.asyncSave ?? true;
    this.keepLastN = options.keepLastN ?? 3;
    for (const [k, v] of typeof this.keepLastN === 'number' ? [['keepLastN', this.keepLastN] as const] : Object.entries(this.keepLastN).map(([t, n]) => [`keepLastN.${t}`, n] as const)) {
      positiveInt(v, k);
    }
    this.asyncSavePolicy = check(options.asyncSavePolicy ?? 'warn', 'asyncSavePolicy', oneOf(['warn', 'fail', 'retry']));
    this.asyncSaveRetries = positiveInt(options.asyncSaveRetries ?? 3, 'asyncSaveRetries', 0);
    this.asyncSaveRetryDelay = check(options.asyncSaveRetryDelay ?? 5.0, 'asyncSaveRetryDelay', numberAbove(0, { inclusive: true, unit: 'seconds' }));
    this.maxMemorySnapshots = positiveInt(options.maxMemorySnapshots ?? 2, 'maxMemorySnapshots');
    this.maxMemoryMb = options.maxMemoryMb ?? null;
    this.maxStagingBuffers = positiveInt(options.maxStagingBuffers ?? 2, 'maxStagingBuffers');
    this.fsync = options.fsync ?? true;
  }

  keepLastFor(tier: 'MEMORY' | 'NVME' | 'S3'): number {
    if (typeof this.keepLastN === 'number') return tier === 'MEMORY' ? this.maxMemorySnapshots : this.keepLastN;
    return this.keepLastN[tier] ?? (tier === 'MEMORY' ? this.maxMemorySnapshots : 3);
  }
}
