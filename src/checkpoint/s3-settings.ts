/** Everything needed to reach the bucket; plain data, so that it can be handed to the writer thread. */
export interface S3Settings {
  bucket: string;
  /** Key prefix of every checkpoint, e.g. "training/run-001/" (a trailing "/" is added if missing). */
  prefix?: string;
  region?: string;
  /** For S3-compatible servers (MinIO, s3rver, ...): their URL. */
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Multipart part size in bytes (S3's minimum is 5 MiB); objects larger than one part go multipart. Default 8 MiB. */
  partSize?: number;
  /** Parts uploaded at once. Default 4. */
  queueSize?: number;
  /** Attempts per request, retries included. Default 3. */
  maxAttempts?: number;
  /** Per-request timeout in ms. Default 60000. */
  requestTimeoutMs?: number;
  /**
   * The SDK's own checksums. Default WHEN_REQUIRED: our manifest already checksums every byte, and some
   * S3-compatible servers store the SDK's chunk framing inside objects when it is on.
   */
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** ListObjectsV2 page size (default 1000; smaller only to exercise paging). */
  listPageSize?: number;
}

export function normalizedPrefix(settings: S3Settings): string {
  const p = settings.prefix ?? '';
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

