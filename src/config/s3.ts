import { ConfigurationError, describeError } from '../errors/index.js';
import { resultOf, type ConfigIssue, type ValidationResult } from './result.js';

export interface S3AccessOptions {
  bucket: string;
  /** Default 'us-east-1'. */
  region?: string;
  /** Endpoint URL of an S3-compatible store; default AWS. */
  endpoint?: string;
  /** Path-style addressing (most S3-compatible stores need it); default true when `endpoint` is set. */
  forcePathStyle?: boolean;
  /** Default: the SDK's chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * 'WHEN_REQUIRED' turns off the checksums recent SDKs add by default, which some S3-compatible stores (s3rver)
   * mishandle; default 'WHEN_SUPPORTED' (the SDK's own default, right for AWS).
   */
  checksums?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Upper bound of the whole check, credentials lookup included; default 10000 ms. */
  timeoutMs?: number;
  /** Attempts of the request; default 2. */
  maxAttempts?: number;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Why an S3 key (or key prefix, with `prefix: true`) is unsafe, or undefined when it is not. S3 keys are flat
 * strings, but every tool that maps them to paths (the console, s3rver, `aws s3 sync`, MinIO on disk) reads `/` as
 * a separator: a leading `/`, an empty, `.` or `..` segment makes objects land outside the prefix they were meant
 * for, where a listing of that prefix never finds them. A prefix may end with one `/`; a key may not.
 */
export function s3KeyProblem(key: string, options: { prefix?: boolean } = {}): string | undefined {
  if (typeof key !== 'string') return `must be a string, got ${typeof key}`;
  if (key === '') return options.prefix === true ? undefined : 'is empty';
  if (key.startsWith('/')) return 'starts with "/" (S3 keys are relative: write "runs/r1/", not "/runs/r1/")';
  const body = options.prefix === true && key.endsWith('/') ? key.slice(0, -1) : key;
  for (const segment of body.split('/')) {
    if (segment === '') return 'has an empty segment ("//" or a trailing "/" too many)';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment, which would place objects outside the prefix`;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'holds a control character';
  return undefined;
}

/** Throws a ConfigurationError naming `configKey` (default s3Prefix) if `prefix` is not a safe key prefix; returns it. */
export function assertS3Prefix(prefix: string, configKey = 's3Prefix'): string {
  const problem = s3KeyProblem(prefix, { prefix: true });
  if (problem !== undefined) {
    throw new ConfigurationError(`${configKey} ${JSON.stringify(prefix)} ${problem}`, {
      configKey,
      suggestions: ['Use plain segments separated by single "/", e.g. "training/run-001/", with no leading "/" and no "." or ".." segment.'],
    });
  }
  return prefix;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function explain(err: unknown, bucket: string, where: string, timeoutMs: number): string {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const text = describeError(err);
  const name = e.name ?? '';
  if (status === 404 || name === 'NotFound' || name === 'NoSuchBucket') {
    return `S3 bucket "${bucket}" does not exist at ${where} (HeadBucket: 404). Create it, or fix checkpoint.s3_bucket / checkpoint.s3_endpoint`;
  }
  if (status === 403 || name === 'Forbidden' || name === 'AccessDenied') {
    return `S3 bucket "${bucket}" at ${where} refuses these credentials (HeadBucket: 403). Check the access key and that it may s3:ListBucket on the bucket`;
  }
  if (status === 301 || name === 'PermanentRedirect') {
    return `S3 bucket "${bucket}" is in another region than the one given (HeadBucket: 301). Set checkpoint.s3_region to the bucket's region`;
  }
  if (name === 'CredentialsProviderError' || /credential/i.test(text)) {
    return `No S3 credentials found for bucket "${bucket}": ${text}. Set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE`;
  }
  if (name === 'TimeoutError' || name === 'AbortError' || /timed? ?out|aborted/i.test(text)) {
    return `S3 endpoint ${where} did not answer within ${timeoutMs} ms (bucket "${bucket}"). Check checkpoint.s3_endpoint, the network and any proxy`;
  }
  const code = e.code ?? (/(E[A-Z]{4,})/.exec(text)?.[1] ?? '');
  if (code !== '' && /^E[A-Z]+$/.test(code)) {
    return `Cannot reach S3 endpoint ${where} (${code}) for bucket "${bucket}". Check checkpoint.s3_endpoint and that the store is running`;
  }
  return `HeadBucket on S3 bucket "${bucket}" at ${where} failed${status !== undefined ? ` (HTTP ${status})` : ''}: ${name !== '' && !text.startsWith(name) ? `${name}: ` : ''}${text}`;
}

/**
 * Checks that `bucket` exists and these credentials may use it, with one HeadBucket request, bounded by `timeoutMs`.
 * Never throws: every failure is an error of the result, saying what to fix.
 */
export async function validateS3Access(options: S3AccessOptions): Promise<ValidationResult> {
  try {
    return await checkS3Access(options);
  } catch (err) {
    // Anything unforeseen (a client option the SDK refuses, say) is still a result, not a throw.
    return resultOf([{ severity: 'error', path: 'checkpoint.s3_bucket', message: `S3 access could not be checked: ${describeError(err)}` }]);
  }
}

async function checkS3Access(options: S3AccessOptions): Promise<ValidationResult> {
  const fail = (message: string, path = 'checkpoint.s3_bucket'): ValidationResult => resultOf([{ severity: 'error', path, message }]);
  const { bucket } = options ?? {};
  if (typeof bucket !== 'string' || !BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    return fail(`S3 bucket name ${JSON.stringify(bucket)} is not valid: 3-63 characters, lower-case letters, digits, '.' and '-', starting and ending with a letter or digit`);
  }
  if (options.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      return fail(`S3 endpoint ${JSON.stringify(options.endpoint)} is not an http(s) URL, e.g. http://127.0.0.1:9000`, 'checkpoint.s3_endpoint');
    }
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return fail(`timeoutMs must be a number > 0, got ${String(timeoutMs)}`, 'timeoutMs');
  const region = options.region ?? 'us-east-1';
  const where = options.endpoint ?? `AWS (${region})`;
  // Loaded on first use: the SDK is heavy, and most users of this module (the CLI, every worker) never check S3.
  const { S3Client, HeadBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 2,
    requestChecksumCalculation: options.checksums ?? 'WHEN_SUPPORTED',
    responseChecksumValidation: options.checksums ?? 'WHEN_SUPPORTED',
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // The SDK's own timeouts do not cover every phase (credential lookups, retries' back-off): a timer bounds the whole.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { name: 'TimeoutError' }));
    }, timeoutMs);
  });
  const issues: ConfigIssue[] = [];
  try {
    await Promise.race([client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: abort.signal }), deadline]);
  } catch (err) {
    issues.push({ severity: 'error', path: 'checkpoint.s3_bucket', message: explain(err, bucket, where, timeoutMs) });
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
  return resultOf(issues);
}
