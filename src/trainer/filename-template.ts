/**
 * Checkpoint names from a template such as `epoch_{epoch:03d}_step_{step:06d}.ckpt` (Python's format
 * spec, the reference's style). The step must be the name's last number: tiers order checkpoints by it.
 */
const FIELD = /\{(epoch|step)(?::(0?)(\d+)d)?\}/g;
const NAME_CHARS = /^[A-Za-z0-9_][A-Za-z0-9_.=+-]*$/;

/** What is wrong with a template, or undefined when it is usable. */
export function checkFilenameTemplate(template: string): string | undefined {
  const stray = template.replace(FIELD, '').match(/[{}]/);
  if (stray !== null) return `"${template}": only {epoch} and {step} fields (optionally {step:06d}) are allowed`;
  const steps = [...template.matchAll(FIELD)].filter((m) => m[1] === 'step');
  if (steps.length === 0) return `"${template}" has no {step} field: checkpoints are ordered by step`;
  const last = steps[steps.length - 1];
  const tail = template.slice((last.index ?? 0) + last[0].length);
  if (/\d|\{/.test(tail)) return `"${template}": the step must be the last number of the name (found a number or field after {step})`;
  const sample = formatFilename(template, { epoch: 1, step: 1 });
  if (!NAME_CHARS.test(sample) || sample.includes('..') || sample.length > 200) return `"${template}" gives "${sample}": a name is one path segment of letters, digits, "_", "-", ".", "=" or "+", not hidden, no ".."`;
  return undefined;
}

export function formatFilename(template: string, values: { epoch: number; step: number }): string {
  return template.replace(FIELD, (_m, field: 'epoch' | 'step', zero: string | undefined, width: string | undefined) => {
    const v = String(values[field]);
    return width === undefined ? v : v.padStart(Number(width), zero === '0' ? '0' : ' ');
  });
}
