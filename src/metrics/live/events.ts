/**
 * What happened to a job, as the agent saw it. Each event is one JSON line in the job's event file,
 * so a finished job can be inspected later (`eh status`, `eh dashboard --log-dir`).
 */
export type WorkerState = 'starting' | 'running' | 'failed' | 'restarting' | 'succeeded' | 'stopped';

export type JobEventBody =
  | { type: 'job-start'; maxRestarts: number; nprocPerNode: number; nnodes: string }
  | { type: 'rendezvous'; round: number; worldSize: number; nodeRank: number; nnodes: number }
  | { type: 'world-size'; from: number; to: number }
  | { type: 'workers-started'; restartCount: number; ranks: number[] }
  | { type: 'failure'; rank: number; exitCode: number | null; signal: string | null; reason: string }
  | { type: 'restart'; restartCount: number; maxRestarts: number }
  | { type: 'checkpoint'; rank: number; tier: string; step: number | null; seconds: number; bytes: number }
  | { type: 'recovery'; rank: number; seconds: number; tier: string; step: number }
  | { type: 'worker-state'; rank: number; state: WorkerState }
  | { type: 'job-end'; outcome: 'succeeded' | 'failed' | 'interrupted' | 'preempted'; exitCode: number };

export type JobEvent = JobEventBody & { time: number; job: string; node: string };

export type JobEventType = JobEventBody['type'];

/** One step record of one rank (the `.steps.jsonl` file): the points the dashboard plots. */
export interface StepRecord {
  time: number;
  rank: number;
  step: number;
  loss?: number;
  lr?: number;
  samplesPerSec?: number;
  tokensPerSec?: number;
}

export const EVENTS_SUFFIX = '.events.jsonl';
export const STEPS_SUFFIX = '.steps.jsonl';

/** A job id as a file name: anything but letters, digits, dot, dash and underscore becomes `_`, so an id never leaves the log dir. */
export function jobFileStem(job: string): string {
  const stem = job.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return stem === '' ? 'job' : stem.slice(0, 128);
}
