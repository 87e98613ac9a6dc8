import { ConfigurationError } from '../errors/index.js';
import { arr, num, optStr, rec, systemClock, type Clock } from './checks.js';

export interface LRAdjustment {
  timestamp: number;
  oldLr: number;
  newLr: number;
  /** e.g. 'topology_change', 'warmup', 'schedule'. */
  reason: string;
  step: number | null;
}

/** History of learning-rate changes. */
export class LRMetrics {
  private readonly list: LRAdjustment[] = [];

  constructor(private readonly clock: Clock = systemClock) {}

  recordAdjustment(options: { oldLr: number; newLr: number; reason?: string; step?: number }): LRAdjustment {
    for (const key of ['oldLr', 'newLr'] as const) {
      const v = options[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigurationError(`${key} must be a finite number, got ${String(v)}`, { configKey: key });
    }
    const a: LRAdjustment = { timestamp: this.clock(), oldLr: options.oldLr, newLr: options.newLr, reason: options.reason ?? 'unspecified', step: options.step ?? null };
    this.list.push(a);
    return { ...a };
  }

  get adjustments(): readonly LRAdjustment[] {
    return this.list.map((a) => ({ ...a }));
  }

  get count(): number {
    return this.list.length;
  }

  /** The rate after the last adjustment, or null if none was recorded. */
  get currentLr(): number | null {
    return this.list.length === 0 ? null : this.list[this.list.length - 1].newLr;
  }

  toJSON(): { adjustments: LRAdjustment[] } {
    return { adjustments: this.list.map((a) => ({ ...a })) };
  }

  static fromJSON(value: unknown, clock: Clock = systemClock): LRMetrics {
    const m = new LRMetrics(clock);
    arr(rec(value, 'lr').adjustments, 'lr.adjustments').forEach((v, i) => {
      const w = `lr.adjustments[${i}]`;
      const r = rec(v, w);
      m.list.push({ timestamp: num(r, 'timestamp', w), oldLr: num(r, 'oldLr', w), newLr: num(r, 'newLr', w), reason: optStr(r, 'reason', w) ?? 'unspecified', step: r.step === null || r.step === undefined ? null : num(r, 'step', w) });
    });
    return m;
  }
}
