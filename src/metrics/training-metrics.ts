import { CheckpointValidationError } from '../errors/index.js';
import { nonNegativeInt, num, rec, systemClock, type Clock } from './checks.js';
import { CheckpointMetrics, type CheckpointMetricsJSON } from './checkpoint-metrics.js';
import { GradientMetrics, type GradientMetricsJSON } from './gradient-metrics.js';
import { LRMetrics, type LRAdjustment } from './lr-metrics.js';
import { RecoveryMetrics, type RecoveryEvent } from './recovery-metrics.js';

export interface TrainingMetricsOptions {
  /** Seconds since the epoch; default Date.now() / 1000. */
  clock?: Clock;
  /** When training started (clock seconds); default now. */
  startTime?: number;
}

export interface TrainingMetricsJSON {
  version: 1;
  startTime: number;
  step: number;
  tokensProcessed: number;
  checkpoint: CheckpointMetricsJSON;
  recovery: { events: RecoveryEvent[] };
  gradient: GradientMetricsJSON;
  lr: { adjustments: LRAdjustment[] };
}

export interface TierSummary {
  saves: number;
  avgSaveTime: number;
  maxSaveTime: number;
  loads: number;
  avgLoadTime: number;
  maxLoadTime: number;
}

export interface MetricsSummary {
  step: number;
  tokensProcessed: number;
  trainingTime: number;
  tokensPerSecond: number;
  trainingEfficiency: number;
  checkpoint: { saves: number; loads: number; avgSaveTime: number; maxSaveTime: number; avgLoadTime: number; maxLoadTime: number; blockingSaveTime: number; tiers: Record<string, TierSummary> };
  recovery: { events: number; workerJoins: number; workerFailures: number; avgRecoveryTime: number; maxRecoveryTime: number; totalRecoveryTime: number };
  gradient: { steps: number; clipFrequency: number; avgClipMagnitude: number; avgGradNorm: number; maxGradNorm: number; nonFiniteSteps: number };
  lr: { adjustments: number; currentLr: number | null };
}

/** Where logSummary() writes: a function taking a line, or a logger with info(). */
export type SummaryLogger = ((line: string) => void) | { info(message: string): void };

/**
 * All the metrics of a run. Times are seconds. The state survives a restart through toJSON()/fromJSON(): the start
 * time is kept, so the time a restart took counts as wall time not spent training.
 */
export class TrainingMetrics {
  readonly checkpoint: CheckpointMetrics;
  readonly recovery: RecoveryMetrics;
  readonly gradient: GradientMetrics;
  readonly lr: LRMetrics;
  readonly startTime: number;
  private readonly clock: Clock;
  private currentStep = 0;
  private tokens = 0;

  constructor(options: TrainingMetricsOptions = {}, parts?: { checkpoint: CheckpointMetrics; recovery: RecoveryMetrics; gradient: GradientMetrics; lr: LRMetrics }) {
    this.clock = options.clock ?? systemClock;
    this.startTime = options.startTime ?? this.clock();
    this.checkpoint = parts?.checkpoint ?? new CheckpointMetrics();
    this.recovery = parts?.recovery ?? new RecoveryMetrics(this.clock);
    this.gradient = parts?.gradient ?? new GradientMetrics();
    this.lr = parts?.lr ?? new LRMetrics(this.clock);
  }

  /** Records progress: the current step and, optionally, the total tokens (or samples) processed so far. */
  updateStep(step: number, tokensProcessed?: number): void {
    this.currentStep = nonNegativeInt(step, 'step');
    if (tokensProcessed !== undefined) this.tokens = nonNegativeInt(tokensProcessed, 'tokensProcessed');
  }

  get step(): number {
    return this.currentStep;
  }

  get tokensProcessed(): number {
    return this.tokens;
  }

  /** Wall seconds since the start. */
  get trainingTime(): number {
    return Math.max(0, this.clock() - this.startTime);
  }

  get tokensPerSecond(): number {
    const t = this.trainingTime;
    return t === 0 ? 0 : this.tokens / t;
  }

  /** Fraction of wall time spent training rather than recovering or paused by checkpoint saves; 1 before any time passed. */
  get trainingEfficiency(): number {
    const t = this.trainingTime;
    if (t === 0) return 1;
    const lost = this.recovery.totalRecoveryTime + this.checkpoint.blockingSaveTime;
    return Math.min(1, Math.max(0, (t - lost) / t));
  }

  summary(): MetricsSummary {
    const c = this.checkpoint;
    const tiers: Record<string, TierSummary> = {};
    for (const tier of c.tiers) {
      tiers[tier] = { saves: c.saveCount(tier), avgSaveTime: c.avgSaveTime(tier), maxSaveTime: c.maxSaveTime(tier), loads: c.loadCount(tier), avgLoadTime: c.avgLoadTime(tier), maxLoadTime: c.maxLoadTime(tier) };
    }
    const r = this.recovery;
    const g = this.gradient;
    return {
      step: this.step,
      tokensProcessed: this.tokens,
      trainingTime: this.trainingTime,
      tokensPerSecond: this.tokensPerSecond,
      trainingEfficiency: this.trainingEfficiency,
      checkpoint: { saves: c.saveCount(), loads: c.loadCount(), avgSaveTime: c.avgSaveTime(), maxSaveTime: c.maxSaveTime(), avgLoadTime: c.avgLoadTime(), maxLoadTime: c.maxLoadTime(), blockingSaveTime: c.blockingSaveTime, tiers },
      recovery: { events: r.events.length, workerJoins: r.workerJoins, workerFailures: r.workerFailures, avgRecoveryTime: r.avgRecoveryTime, maxRecoveryTime: r.maxRecoveryTime, totalRecoveryTime: r.totalRecoveryTime },
      gradient: { steps: g.totalSteps, clipFrequency: g.clipFrequency, avgClipMagnitude: g.avgClipMagnitude, avgGradNorm: g.avgGradNorm, maxGradNorm: g.maxGradNorm, nonFiniteSteps: g.nonFiniteSteps },
      lr: { adjustments: this.lr.count, currentLr: this.lr.currentLr },
    };
  }

  /** The summary as readable lines. */
  formatSummary(): string[] {
    const s = this.summary();
    const f = (x: number): string => (Number.isInteger(x) ? String(x) : x.toPrecision(4));
    const lines = [
      `Training: step ${s.step}, ${f(s.trainingTime)} s, ${f(s.tokensPerSecond)} tokens/s, efficiency ${(s.trainingEfficiency * 100).toFixed(1)}%`,
      `Checkpoints: ${s.checkpoint.saves} saves (avg ${f(s.checkpoint.avgSaveTime)} s, max ${f(s.checkpoint.maxSaveTime)} s, blocking ${f(s.checkpoint.blockingSaveTime)} s), ${s.checkpoint.loads} loads (avg ${f(s.checkpoint.avgLoadTime)} s)`,
    ];
    for (const [tier, t] of Object.entries(s.checkpoint.tiers)) {
      lines.push(`  ${tier}: ${t.saves} saves avg ${f(t.avgSaveTime)} s max ${f(t.maxSaveTime)} s, ${t.loads} loads avg ${f(t.avgLoadTime)} s`);
    }
    lines.push(
      `Recovery: ${s.recovery.events} events (${s.recovery.workerJoins} joins, ${s.recovery.workerFailures} failures), avg ${f(s.recovery.avgRecoveryTime)} s, total ${f(s.recovery.totalRecoveryTime)} s`,
      `Gradients: ${s.gradient.steps} steps, clipped ${(s.gradient.clipFrequency * 100).toFixed(1)}%, avg clip magnitude ${f(s.gradient.avgClipMagnitude)}, non-finite ${s.gradient.nonFiniteSteps}`,
      `Learning rate: ${s.lr.adjustments} adjustments, current ${s.lr.currentLr === null ? 'n/a' : String(s.lr.currentLr)}`,
    );
    return lines;
  }

  /** Writes the summary, one line per call, to `logger` (default console.log). */
  logSummary(logger: SummaryLogger = (line) => console.log(line)): void {
    const write = typeof logger === 'function' ? logger : (line: string) => logger.info(line);
    for (const line of this.formatSummary()) write(line);
  }

  toJSON(): TrainingMetricsJSON {
    return {
      version: 1,
      startTime: this.startTime,
      step: this.currentStep,
      tokensProcessed: this.tokens,
      checkpoint: this.checkpoint.toJSON(),
      recovery: this.recovery.toJSON(),
      gradient: this.gradient.toJSON(),
      lr: this.lr.toJSON(),
    };
  }

  /**
   * Replaces this object's contents with a toJSON() value, in place, so that every holder of this object (a
   * checkpoint manager recording into it, a trainer) sees the restored history after a resume. Validated as
   * fromJSON() does; on a malformed value nothing changes.
   */
  loadJSON(value: unknown): void {
    const restored = TrainingMetrics.fromJSON(value, { clock: this.clock });
    // Same classes on both sides: copying the parts' own fields moves their (TypeScript-private) records over.
    Object.assign(this.checkpoint, restored.checkpoint);
    Object.assign(this.recovery, restored.recovery);
    Object.assign(this.gradient, restored.gradient);
    Object.assign(this.lr, restored.lr);
    (this as { startTime: number }).startTime = restored.startTime;
    this.currentStep = restored.currentStep;
    this.tokens = restored.tokens;
  }

  /** Rebuilds metrics from toJSON() output (e.g. read from a checkpoint); throws CheckpointValidationError if malformed. */
  static fromJSON(value: unknown, options: { clock?: Clock } = {}): TrainingMetrics {
    const r = rec(value, 'root');
    if (r.version !== 1) {
      throw new CheckpointValidationError(`Unsupported metrics version ${String(r.version)}`, { invalidKeys: ['version'], suggestions: ['Pass what TrainingMetrics.toJSON() of this version produced.'] });
    }
    const clock = options.clock ?? systemClock;
    const m = new TrainingMetrics(
      { clock, startTime: num(r, 'startTime', 'root') },
      { checkpoint: CheckpointMetrics.fromJSON(r.checkpoint), recovery: RecoveryMetrics.fromJSON(r.recovery, clock), gradient: GradientMetrics.fromJSON(r.gradient), lr: LRMetrics.fromJSON(r.lr, clock) },
    );
    m.currentStep = num(r, 'step', 'root');
    m.tokens = num(r, 'tokensProcessed', 'root');
    return m;
  }
}
