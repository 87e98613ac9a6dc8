import { closeSync, existsSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigurationError } from '../../errors/index.js';
import { EVENTS_SUFFIX, STEPS_SUFFIX, jobFileStem } from './events.js';
import { JobMonitor } from './monitor.js';

/** The jobs whose event files are in `dir`, newest first. */
export function listLoggedJobs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(EVENTS_SUFFIX))
    .map((f) => ({ job: f.slice(0, -EVENTS_SUFFIX.length), mtime: statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
    .map((j) => j.job);
}

function pickJob(dir: string, job: string | undefined): string {
  const jobs = listLoggedJobs(dir);
  if (job !== undefined) {
    const stem = jobFileStem(job);
    if (!jobs.includes(stem)) {
      throw new ConfigurationError(`no events of job '${job}' in ${dir}`, {
        configKey: 'job',
        suggestions: [jobs.length > 0 ? `Jobs logged there: ${jobs.slice(0, 10).join(', ')}.` : 'Run the job with `eh run --log-dir DIR` first.'],
      });
    }
    return stem;
  }
  if (jobs.length === 0) {
    throw new ConfigurationError(`no job events in ${dir}`, {
      configKey: 'log-dir',
      suggestions: ['Give the directory passed to `eh run --log-dir` (the agent writes <job>.events.jsonl there).'],
    });
  }
  return jobs[0];
}

/**
 * Follows a job's files from where it last stopped: each `poll()` replays the complete lines
 * appended since, into one monitor (a line still being written waits for the next poll).
 */
export class JobLogFollower {
  readonly monitor: JobMonitor;
  private readonly files: { file: string; offset: number; rest: string }[];

  constructor(dir: string, job?: string) {
    const stem = pickJob(dir, job);
    this.monitor = new JobMonitor({ job: stem, node: '' });
    this.files = [EVENTS_SUFFIX, STEPS_SUFFIX].map((s) => ({ file: path.join(dir, stem + s), offset: 0, rest: '' }));
    this.poll();
  }

  poll(): void {
    for (const f of this.files) {
      if (!existsSync(f.file)) continue;
      const fd = openSync(f.file, 'r');
      try {
        const buf = Buffer.alloc(1 << 20);
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, f.offset);
          if (n <= 0) break;
          f.offset += n;
          const text = f.rest + buf.subarray(0, n).toString('utf8');
          const lines = text.split('\n');
          f.rest = lines.pop() ?? '';
          for (const line of lines) if (line.trim() !== '') this.monitor.replayLine(line);
        }
      } finally {
        closeSync(fd);
      }
    }
  }
}

/** A finished (or running) job's state, read from its log dir. */
export function readJobLog(dir: string, job?: string): JobMonitor {
  return new JobLogFollower(dir, job).monitor;
}
