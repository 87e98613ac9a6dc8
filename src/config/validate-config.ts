import { describeError } from '../errors/index.js';
import { resultOf, type ConfigIssue } from './result.js';
import { validateS3Access, type S3AccessOptions } from './s3.js';
import { validateElasticConfig, type ConfigValidationResult } from './validate.js';

export interface ValidateConfigOptions {
  /** Also check with a HeadBucket request that checkpoint.s3_bucket is reachable; default false. */
  validateS3?: boolean;
  /** Overrides of the S3 check (credentials, checksums, timeoutMs); bucket, region, endpoint come from the config. */
  s3?: Partial<S3AccessOptions>;
}

/** validateElasticConfig, then (optionally, and only for a config without errors) the S3 check. Never throws. */
export async function validateConfig(input: unknown, options: ValidateConfigOptions = {}): Promise<ConfigValidationResult> {
  try {
    return await validateWithS3(input, options ?? {});
  } catch (err) {
    return resultOf([{ severity: 'error', path: '', message: `the config could not be validated: ${describeError(err)}` }]);
  }
}

async function validateWithS3(input: unknown, options: ValidateConfigOptions): Promise<ConfigValidationResult> {
  const base = validateElasticConfig(input);
  if (options.validateS3 !== true || base.config === undefined) return base;
  const ckpt = base.config.checkpoint;
  const issues: ConfigIssue[] = [...base.issues];
  if (ckpt.s3_bucket === null) {
    issues.push({ severity: 'warning', path: 'checkpoint.s3_bucket', message: 'S3 validation was asked for but checkpoint.s3_bucket is not set: nothing to check' });
  } else {
    const s3 = await validateS3Access({
      region: ckpt.s3_region,
      endpoint: ckpt.s3_endpoint ?? undefined,
      forcePathStyle: ckpt.s3_force_path_style || ckpt.s3_endpoint !== null,
      ...options.s3,
      bucket: ckpt.s3_bucket,
    });
    issues.push(...s3.issues);
  }
  const result: ConfigValidationResult = resultOf(issues);
  if (result.valid) result.config = base.config;
  return result;
}
