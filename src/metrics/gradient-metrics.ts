import { ConfigurationError } from '../errors/index.js';
import { mean, num, rec } from './checks.js';

export interface GradientMetricsJSON {
  steps: number;
  clippedSteps: number;
  /** Sum of the pre-clip norms of the clipped steps with a finite norm. */
  clippedNormSum: number;
  clippedFiniteSteps: number;
  normSum: number;
  maxNorm: number;
  /** Steps whose norm was NaN or infinite (kept out of the averages). */
  nonFiniteSteps: number;
}

const FIELDS: ReadonlyArray<keyof GradientMetricsJSON> = ['steps', 'clippedSteps', 'clippedNormSum', 'clippedFiniteSteps', 'normSum', 'maxNorm', 'nonFiniteSteps'];

/** Gradient-norm and clipping statistics. */
export class GradientMetrics {
  private s: GradientMetricsJSON = { steps: 0, clippedSteps: 0, clippedNormSum: 0, clippedFiniteSteps: 0, normSum: 0, maxNorm: 0, nonFiniteSteps: 0 };

  /** Records one optimizer step: whether clipping fired, and the norm before clipping. */
  recordStep(options: { clipped: boolean; gradNorm: number }): void {
    if (typeof options.clipped !== 'boolean') throw new ConfigurationError(`clipped must be a boolean, got ${String(options.clipped)}`, { configKey: 'clipped' });
    if (typeof options.gradNorm !== 'number') throw new ConfigurationError(`gradNorm must be a number, got ${String(options.gradNorm)}`, { configKey: 'gradNorm' });
    this.s.steps += 1;
    if (options.clipped) this.s.clippedSteps += 1;
    // A NaN/inf norm is a real event of training (an overflow), worth counting, but it would poison every average.
    if (!Number.isFinite(options.gradNorm)) {
      this.s.nonFiniteSteps += 1;
      return;
    }
    const n = Math.abs(options.gradNorm);
    this.s.normSum += n;
    this.s.maxNorm = Math.max(this.s.maxNorm, n);
    if (options.clipped) {
      this.s.clippedNormSum += n;
      this.s.clippedFiniteSteps += 1;
    }
  }

  get totalSteps(): number {
    return this.s.steps;
  }

  get clippedSteps(): number {
    return this.s.clippedSteps;
  }

  get nonFiniteSteps(): number {
    return this.s.nonFiniteSteps;
  }

  /** Fraction of steps that were clipped, in [0, 1]; 0 before any step. */
  get clipFrequency(): number {
    return mean(this.s.clippedSteps, this.s.steps);
  }

  /** Mean pre-clip norm of the clipped steps (finite norms only); 0 if none was clipped. */
  get avgClipMagnitude(): number {
    return mean(this.s.clippedNormSum, this.s.clippedFiniteSteps);
  }

  get avgGradNorm(): number {
    return mean(this.s.normSum, this.s.steps - this.s.nonFiniteSteps);
  }

  get maxGradNorm(): number {
    return this.s.maxNorm;
  }

  toJSON(): GradientMetricsJSON {
    return { ...this.s };
  }

  static fromJSON(value: unknown): GradientMetrics {
    const r = rec(value, 'gradient');
    const m = new GradientMetrics();
    m.s = Object.fromEntries(FIELDS.map((k) => [k, num(r, k, 'gradient')])) as unknown as GradientMetricsJSON;
    return m;
  }
}
