import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError, describeError } from '../errors/index.js';

/** One submitted job, as `<experimentsDir>/jobs.json` records it (what `eh jobs` reads). */
export interface JobRecord {
  experimentName: string;
  jobId: string;
  arrayJobId?: string;
  batchName?: string;
  experimentDir: string;
  submittedAt: string;
  gitBranch?: string;
  gitCommit?: string;
}

export const JOBS_INDEX = 'jobs.json';

export function readJobRecords(experimentsDir: string): JobRecord[] {
  const file = join(experimentsDir, JOBS_INDEX);
  if (!existsSync(file)) return [];
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(v)) throw new Error('not a list');
    return v.filter((r): r is JobRecord => r !== null && typeof r === 'object' && typeof (r as JobRecord).jobId === 'string' && typeof (r as JobRecord).experimentName === 'string');
  } catch (err) {
    throw new ConfigurationError(`The job index ${file} is unreadable: ${describeError(err)}`, { suggestions: ['Move it away: the next submission starts a new one.'], cause: err });
  }
}

/** Adds records to the index (written to a temporary file, then renamed over it). */
export function appendJobRecords(experimentsDir: string, records: JobRecord[]): void {
  if (records.length === 0) return;
  mkdirSync(experimentsDir, { recursive: true });
  const file = join(experimentsDir, JOBS_INDEX);
  const all = [...readJobRecords(experimentsDir), ...records];
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`);
  renameSync(tmp, file);
}
