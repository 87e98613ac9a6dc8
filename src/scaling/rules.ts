/** How the learning rate follows the effective batch size. */
export const ScalingRule = {
  /** lr_new = lr_base * (batch_new / batch_base) */
  LINEAR: 'linear',
  /** lr_new = lr_base * sqrt(batch_new / batch_base) */
  SQRT: 'sqrt',
  /** the learning rate does not change */
  NONE: 'none',
} as const;
export type ScalingRule = (typeof ScalingRule)[keyof typeof ScalingRule];

export const SCALING_RULES: readonly ScalingRule[] = Object.values(ScalingRule);

export function isScalingRule(value: unknown): value is ScalingRule {
  return typeof value === 'string' && (SCALING_RULES as readonly string[]).includes(value);
}

/** The unclamped learning rate for `newBatch` under `rule`, from `baseLr` at `baseBatch`. */
export function applyScalingRule(rule: ScalingRule, baseLr: number, baseBatch: number, newBatch: number): number {
  const ratio = newBatch / baseBatch;
  switch (rule) {
    case ScalingRule.LINEAR:
      return baseLr * ratio;
    case ScalingRule.SQRT:
      return baseLr * Math.sqrt(ratio);
    case ScalingRule.NONE:
      return baseLr;
  }
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
