/** SLURM job states, as squeue, scontrol and sacct print them. */
export const JobState = {
  PENDING: 'PENDING',
  CONFIGURING: 'CONFIGURING',
  RUNNING: 'RUNNING',
  COMPLETING: 'COMPLETING',
  SUSPENDED: 'SUSPENDED',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
  TIMEOUT: 'TIMEOUT',
  PREEMPTED: 'PREEMPTED',
  NODE_FAIL: 'NODE_FAIL',
  OUT_OF_MEMORY: 'OUT_OF_MEMORY',
  BOOT_FAIL: 'BOOT_FAIL',
  DEADLINE: 'DEADLINE',
  REQUEUED: 'REQUEUED',
  REQUEUE_HOLD: 'REQUEUE_HOLD',
  REQUEUE_FED: 'REQUEUE_FED',
  RESIZING: 'RESIZING',
  REVOKED: 'REVOKED',
  SIGNALING: 'SIGNALING',
  SPECIAL_EXIT: 'SPECIAL_EXIT',
  STAGE_OUT: 'STAGE_OUT',
  STOPPED: 'STOPPED',
  /** Not known to SLURM (any more): aged out of slurmctld's memory with no accounting to ask. */
  UNKNOWN: 'UNKNOWN',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

const STATES = new Set<string>(Object.values(JobState));
const SHORT: Record<string, JobState> = {
  PD: 'PENDING', CF: 'CONFIGURING', R: 'RUNNING', CG: 'COMPLETING', S: 'SUSPENDED', CD: 'COMPLETED', F: 'FAILED', CA: 'CANCELLED',
  TO: 'TIMEOUT', PR: 'PREEMPTED', NF: 'NODE_FAIL', OOM: 'OUT_OF_MEMORY', BF: 'BOOT_FAIL', DL: 'DEADLINE', RQ: 'REQUEUED',
  RH: 'REQUEUE_HOLD', RF: 'REQUEUE_FED', RS: 'RESIZING', RV: 'REVOKED', SI: 'SIGNALING', SE: 'SPECIAL_EXIT', SO: 'STAGE_OUT', ST: 'STOPPED',
};

/** `CANCELLED by 0`, `cancelled+`, `CD` -> the state; anything else UNKNOWN. */
export function parseJobState(text: string): JobState {
  const word = text.trim().split(/[\s+]/)[0]?.toUpperCase() ?? '';
  if (STATES.has(word)) return word as JobState;
  return SHORT[word] ?? JobState.UNKNOWN;
}

/** States after which the job will not run again by itself. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED', 'REVOKED', 'SPECIAL_EXIT']);

export interface JobStatus {
  /** `123`, or `123_4` for a task of an array. */
  jobId: string;
  state: JobState;
  /** Why it is pending or ended (TimeLimit, JobArrayTaskLimit, ...); undefined for SLURM's "None". */
  reason?: string;
  /** How long it has run, as SLURM prints it. */
  elapsed?: string;
  startTime?: string;
  endTime?: string;
  exitCode?: string;
  restarts?: number;
  name?: string;
  /** Which command answered. */
  source: 'squeue' | 'scontrol' | 'sacct' | 'none';
}

/** The squeue format parseSqueue reads: `-o` with these fields, separated by `|`. */
export const SQUEUE_FORMAT = '%i|%T|%r|%M|%S|%e|%j';

const orNone = (s: string | undefined): string | undefined => (s === undefined || s === '' || s === 'N/A' || s === 'Unknown' ? undefined : s);

/** Lines of `squeue -h -r -t all -o SQUEUE_FORMAT`. */
export function parseSqueue(text: string): JobStatus[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [jobId, state, reason, elapsed, start, end, ...name] = l.split('|');
      return { jobId, state: parseJobState(state ?? ''), reason: reason === 'None' ? undefined : orNone(reason), elapsed: orNone(elapsed), startTime: orNone(start), endTime: orNone(end), name: orNone(name.join('|')), source: 'squeue' as const };
    });
}

/** `scontrol show job ID` (one or more records: an array prints one per task). */
export function parseScontrol(text: string): JobStatus[] {
  return text
    .split(/\n\s*\n/)
    .filter((rec) => /JobId=/.test(rec))
    .map((rec) => {
      const field = (k: string): string | undefined => new RegExp(`(?:^|\\s)${k}=(\\S*)`).exec(rec)?.[1];
      const arrayJob = field('ArrayJobId');
      const task = field('ArrayTaskId');
      const jobId = arrayJob !== undefined && task !== undefined && /^\d+$/.test(task) ? `${arrayJob}_${task}` : (field('JobId') ?? '');
      const restarts = field('Restarts');
      return {
        jobId,
        state: parseJobState(field('JobState') ?? ''),
        reason: field('Reason') === 'None' ? undefined : orNone(field('Reason')),
        elapsed: orNone(field('RunTime')),
        startTime: orNone(field('StartTime')),
        endTime: orNone(field('EndTime')),
        exitCode: orNone(field('ExitCode')),
        restarts: restarts !== undefined ? Number(restarts) : undefined,
        name: orNone(field('JobName')),
        source: 'scontrol' as const,
      };
    });
}

/** The sacct format parseSacct reads (`-n -P -X -o` with these fields). */
export const SACCT_FORMAT = 'JobID,State,ExitCode,Start,End,Elapsed,JobName';

export function parseSacct(text: string): JobStatus[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [jobId, state, exitCode, start, end, elapsed, ...name] = l.split('|');
      return { jobId, state: parseJobState(state ?? ''), exitCode: orNone(exitCode), startTime: orNone(start), endTime: orNone(end), elapsed: orNone(elapsed), name: orNone(name.join('|')), source: 'sacct' as const };
    });
}
