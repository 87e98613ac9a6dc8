/**
 * Secrets never reach what the agent writes (diagnostic reports, error files): the job token, and the
 * value of any variable whose name says it is a secret (*SECRET*, *PASSWORD*, *TOKEN*, *CREDENTIAL*,
 * AWS keys). Files holding a worker's state are written readable by their owner only.
 */
import { chmodSync, writeFileSync } from 'node:fs';

const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|^AWS_ACCESS_KEY_ID$|^ETCDCTL_USER$/i;
export const REDACTED = '[redacted]';

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** The secret values of `env`: those of secret-named variables (at least 6 characters, so that a stray short value does not blank out the text). */
export function secretValues(env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.length >= 6 && isSecretName(k)) out.add(v);
  return [...out].sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of a secret value replaced. */
export function redactText(text: string, secrets: readonly string[]): string {
  let t = text;
  for (const s of secrets) if (s !== '') t = t.split(s).join(REDACTED);
  return t;
}

/** A deep copy of `value` with secret-named keys' values and secret values in strings redacted. */
export function redactValue(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = isSecretName(k) && v !== null && v !== undefined && v !== '' ? REDACTED : redactValue(v, secrets);
    return out;
  }
  return value;
}

/** Write `text` readable and writable by its owner only (0600), also when the file existed before. */
export function writePrivateFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}
