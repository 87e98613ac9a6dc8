import { ConfigurationError } from '../errors/index.js';

/** Checkpoint names: one plain path segment, never hidden (hidden names are this module's temporaries). */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.=+-]{0,199}$/;

export function checkpointName(step: number): string {
  return `step_${String(step).padStart(8, '0')}`;
}

export function isValidName(name: string): boolean {
  return NAME.test(name) && !name.includes('..');
}

export function assertValidName(name: string, tier?: string): void {
  if (!isValidName(name)) {
    throw new ConfigurationError(`"${name}" is not a valid checkpoint name${tier !== undefined ? ` for tier ${tier}` : ''}`, {
      configKey: 'path',
      suggestions: ['Use one path segment of letters, digits, "_", "-", "." or "=" (e.g. step_00001000), not a path and never "..".'],
    });
  }
}

/** The step a name stands for: its last run of digits (step_00000010 -> 10), or -1 if it has none. */
export function stepOfName(name: string): number {
  const m = /(\d+)(?!.*\d)/.exec(name);
  return m === null ? -1 : Number(m[1]);
}

/** Oldest first: by step number (step 10 after step 9), then by name. */
export function sortByStep(names: readonly string[]): string[] {
  return [...names].sort((a, b) => stepOfName(a) - stepOfName(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A checkpoint's name carries its step (step_00001000, run-a_step_11), and listing, loading and retention order
 * by it: a name that disagrees with the step saved inside (a copied or renamed directory) would be taken for
 * another step, and retention would favour it. Such a checkpoint does not count; saving one is refused.
 */
export function nameAgreesWithStep(name: string, step: number): boolean {
  return stepOfName(name) === step;
}

export function assertNameOfStep(name: string, step: number, tier?: string): void {
  if (!nameAgreesWithStep(name, step)) {
    throw new ConfigurationError(`Checkpoint name "${name}" does not carry the state's step ${step}${tier !== undefined ? ` (tier ${tier})` : ''}`, {
      configKey: 'path',
      suggestions: [`Name it after its step, e.g. ${checkpointName(step)} (the last number in a name is read as its step), or leave the name out.`],
    });
  }
}
