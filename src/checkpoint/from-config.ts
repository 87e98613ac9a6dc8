import type { TrainingConfig } from '../config/index.js';
import { ConfigurationError } from '../errors/index.js';
import { CheckpointConfig, type CheckpointConfigOptions } from './config.js';
import { CheckpointManager, type CheckpointManagerOptions } from './manager.js';

export interface CheckpointFromConfigOptions extends CheckpointManagerOptions {
  /** Settings beyond the file's (credentials, fsync, staging buffers, S3 timeouts) or overriding it. */
  overrides?: CheckpointConfigOptions;
}

/**
 * The CheckpointConfig a validated config file's `checkpoint` section describes (snake_case keys to their
 * camelCase fields), `overrides` applied last. Path-style addressing follows the rule the S3 check of
 * `eh config validate` uses: on when asked for, or whenever an endpoint is given.
 */
export function checkpointConfigFromConfig(config: TrainingConfig, overrides: CheckpointConfigOptions = {}): CheckpointConfig {
  const c = (config as Partial<TrainingConfig> | undefined)?.checkpoint;
  if (c === undefined || c === null || typeof c !== 'object') {
    throw new ConfigurationError('checkpointConfigFromConfig needs a validated training config (with its checkpoint section)', {
      configKey: 'checkpoint',
      suggestions: ["Pass the `config` that loadConfig(file) (elastic-harness/config) returns, or validateElasticConfig(raw).config."],
    });
  }
  return new CheckpointConfig({
    checkpointInterval: c.checkpoint_interval,
    memorySnapshotInterval: c.memory_snapshot_interval,
    nvmePath: c.nvme_path,
    s3Bucket: c.s3_bucket,
    s3Prefix: c.s3_prefix,
    s3Region: c.s3_region,
    s3Endpoint: c.s3_endpoint ?? undefined,
    s3ForcePathStyle: c.s3_force_path_style || c.s3_endpoint !== null,
    asyncSave: c.async_save,
    keepLastN: c.keep_last_n,
    asyncSavePolicy: c.async_save_policy,
    asyncSaveRetries: c.async_save_retries,
    asyncSaveRetryDelay: c.async_save_retry_delay,
    ...overrides,
  });
}

/**
 * The CheckpointManager a validated config file describes, so that a training script runs on the file it
 * validated: `const { config } = await loadConfig('train.yaml'); const manager = checkpointManagerFromConfig(config)`
 * (beside elasticScalingFromConfig for the scaling section).
 */
export function checkpointManagerFromConfig(config: TrainingConfig, options: CheckpointFromConfigOptions = {}): CheckpointManager {
  const { overrides, ...managerOptions } = options;
  return new CheckpointManager(checkpointConfigFromConfig(config, overrides), managerOptions);
}
