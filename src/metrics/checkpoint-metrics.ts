import { label, mean, nonNegative, num, rec, type JsonRecord } from './checks.js';

export interface OperationStats {
  count: number;
  totalTime: number;
  maxTime: number;
  totalBytes: number;
}

export interface CheckpointMetricsJSON {
  saves: Record<string, OperationStats>;
  loads: Record<string, OperationStats>;
  /** Seconds of saving during which training was paused (asynchronous saves only pause for staging). */
  blockingSaveTime: number;
}

export interface RecordSaveOptions {
  bytes?: number;
  /** Whether training waited for this duration; default true. An async save records its staging pause as blocking and the upload as not. */
  blocking?: boolean;
}

function emptyStats(): OperationStats {
  return { count: 0, totalTime: 0, maxTime: 0, totalBytes: 0 };
}

function add(table: Map<string, OperationStats>, tier: string, duration: number, bytes: number): void {
  const s = table.get(tier) ?? emptyStats();
  s.count += 1;
  s.totalTime += duration;
  s.maxTime = Math.max(s.maxTime, duration);
  s.totalBytes += bytes;
  table.set(tier, s);
}

function pick(table: Map<string, OperationStats>, tier?: string): OperationStats[] {
  if (tier === undefined) return [...table.values()];
  const s = table.get(tier);
  return s === undefined ? [] : [s];
}

function sum(stats: OperationStats[], field: keyof OperationStats): number {
  return stats.reduce((acc, s) => acc + s[field], 0);
}

function statsFrom(value: unknown, where: string): Map<string, OperationStats> {
  const out = new Map<string, OperationStats>();
  for (const [tier, v] of Object.entries(rec(value, where))) {
    const r: JsonRecord = rec(v, `${where}.${tier}`);
    const w = `${where}.${tier}`;
    out.set(tier, { count: num(r, 'count', w), totalTime: num(r, 'totalTime', w), maxTime: num(r, 'maxTime', w), totalBytes: num(r, 'totalBytes', w) });
  }
  return out;
}

/** Save and load timings per tier (durations in seconds). Averages and maxima are 0 when nothing was recorded. */
export class CheckpointMetrics {
  private readonly saves = new Map<string, OperationStats>();
  private readonly loads = new Map<string, OperationStats>();
  private blocking = 0;

  recordSave(tier: string, duration: number, options: RecordSaveOptions = {}): void {
    const t = label(tier, 'tier');
    const d = nonNegative(duration, 'duration');
    add(this.saves, t, d, nonNegative(options.bytes ?? 0, 'bytes'));
    if (options.blocking ?? true) this.blocking += d;
  }

  recordLoad(tier: string, duration: number, options: { bytes?: number } = {}): void {
    add(this.loads, label(tier, 'tier'), nonNegative(duration, 'duration'), nonNegative(options.bytes ?? 0, 'bytes'));
  }

  /** Mean save time of `tier`, or of all tiers. */
  avgSaveTime(tier?: string): number {
    const s = pick(this.saves, tier);
    return mean(sum(s, 'totalTime'), sum(s, 'count'));
  }

  maxSaveTime(tier?: string): number {
    return Math.max(0, ...pick(this.saves, tier).map((s) => s.maxTime));
  }

  avgLoadTime(tier?: string): number {
    const s = pick(this.loads, tier);
    return mean(sum(s, 'totalTime'), sum(s, 'count'));
  }

  maxLoadTime(tier?: string): number {
    return Math.max(0, ...pick(this.loads, tier).map((s) => s.maxTime));
  }

  saveCount(tier?: string): number {
    return sum(pick(this.saves, tier), 'count');
  }

  loadCount(tier?: string): number {
    return sum(pick(this.loads, tier), 'count');
  }

  totalSaveTime(tier?: string): number {
    return sum(pick(this.saves, tier), 'totalTime');
  }

  bytesSaved(tier?: string): number {
    return sum(pick(this.saves, tier), 'totalBytes');
  }

  /** Seconds training was paused by saves. */
  get blockingSaveTime(): number {
    return this.blocking;
  }

  get tiers(): string[] {
    return [...new Set([...this.saves.keys(), ...this.loads.keys()])];
  }

  toJSON(): CheckpointMetricsJSON {
    const copy = (m: Map<string, OperationStats>): Record<string, OperationStats> => Object.fromEntries([...m].map(([k, v]) => [k, { ...v }]));
    return { saves: copy(this.saves), loads: copy(this.loads), blockingSaveTime: this.blocking };
  }

  static fromJSON(value: unknown): CheckpointMetrics {
    const r = rec(value, 'checkpoint');
    const m = new CheckpointMetrics();
    for (const [k, v] of statsFrom(r.saves, 'checkpoint.saves')) m.saves.set(k, v);
    for (const [k, v] of statsFrom(r.loads, 'checkpoint.loads')) m.loads.set(k, v);
    m.blocking = num(r, 'blockingSaveTime', 'checkpoint');
    return m;
  }
}
