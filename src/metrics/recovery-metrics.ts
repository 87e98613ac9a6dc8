import { ConfigurationError } from '../errors/index.js';
import { arr, mean, nonNegative, nonNegativeInt, num, optStr, rec, systemClock, type Clock } from './checks.js';

/** 'join': the world grew; 'failure': it shrank, or a worker died and was restarted at the same size. */
export type RecoveryKind = 'join' | 'failure';

/** One recovery: the world changed (or restarted) and training resumed. */
export interface RecoveryEvent {
  /** Unix seconds when it was recorded. */
  timestamp: number;
  oldWorldSize: number;
  newWorldSize: number;
  /** Seconds from the fault (or join) to training again. */
  recoveryTime: number;
  /** Tier the state came from (e.g. 'memory', 'nvme', 's3'), null if none was loaded. */
  checkpointTier: string | null;
  /** Step training resumed at. */
  stepResumed: number;
  kind: RecoveryKind;
}

export interface RecordRecoveryOptions {
  oldWorldSize: number;
  newWorldSize: number;
  recoveryTime: number;
  checkpointTier?: string | null;
  stepResumed?: number;
  /** Default: 'join' if the world grew, else 'failure'. */
  kind?: RecoveryKind;
}

export class RecoveryMetrics {
  private readonly list: RecoveryEvent[] = [];

  constructor(private readonly clock: Clock = systemClock) {}

  recordRecovery(options: RecordRecoveryOptions): RecoveryEvent {
    const oldWorldSize = nonNegativeInt(options.oldWorldSize, 'oldWorldSize');
    const newWorldSize = nonNegativeInt(options.newWorldSize, 'newWorldSize');
    const kind = options.kind ?? (newWorldSize > oldWorldSize ? 'join' : 'failure');
    if (kind !== 'join' && kind !== 'failure') {
      throw new ConfigurationError(`kind must be 'join' or 'failure', got ${String(kind)}`, { configKey: 'kind' });
    }
    const event: RecoveryEvent = {
      timestamp: this.clock(),
      oldWorldSize,
      newWorldSize,
      recoveryTime: nonNegative(options.recoveryTime, 'recoveryTime'),
      checkpointTier: options.checkpointTier ?? null,
      stepResumed: nonNegativeInt(options.stepResumed ?? 0, 'stepResumed'),
      kind,
    };
    this.list.push(event);
    return { ...event };
  }

  get events(): readonly RecoveryEvent[] {
    return this.list.map((e) => ({ ...e }));
  }

  /** Number of recoveries caused by workers joining. */
  get workerJoins(): number {
    return this.list.filter((e) => e.kind === 'join').length;
  }

  /** Number of recoveries caused by workers failing or leaving. */
  get workerFailures(): number {
    return this.list.filter((e) => e.kind === 'failure').length;
  }

  get totalRecoveryTime(): number {
    return this.list.reduce((acc, e) => acc + e.recoveryTime, 0);
  }

  /** Mean seconds per recovery; 0 when there was none. */
  get avgRecoveryTime(): number {
    return mean(this.totalRecoveryTime, this.list.length);
  }

  get maxRecoveryTime(): number {
    return Math.max(0, ...this.list.map((e) => e.recoveryTime));
  }

  toJSON(): { events: RecoveryEvent[] } {
    return { events: this.list.map((e) => ({ ...e })) };
  }

  static fromJSON(value: unknown, clock: Clock = systemClock): RecoveryMetrics {
    const m = new RecoveryMetrics(clock);
    arr(rec(value, 'recovery').events, 'recovery.events').forEach((v, i) => {
      const w = `recovery.events[${i}]`;
      const r = rec(v, w);
      const kind = r.kind === 'join' || r.kind === 'failure' ? r.kind : num(r, 'newWorldSize', w) > num(r, 'oldWorldSize', w) ? 'join' : 'failure';
      m.list.push({
        timestamp: num(r, 'timestamp', w),
        oldWorldSize: num(r, 'oldWorldSize', w),
        newWorldSize: num(r, 'newWorldSize', w),
        recoveryTime: num(r, 'recoveryTime', w),
        checkpointTier: optStr(r, 'checkpointTier', w),
        stepResumed: num(r, 'stepResumed', w),
        kind,
      });
    });
    return m;
  }
}
