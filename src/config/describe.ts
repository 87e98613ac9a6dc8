import type { z } from 'zod';

/** Turning raw values and zod issues into messages that name the key path, the value seen and the value wanted. */

export type KeyPath = ReadonlyArray<PropertyKey>;

export function joinPath(path: KeyPath): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** A short rendering of a value as the user wrote it. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** `string "x"`, `number 2.5`, `null`, `an array of 3`, `a mapping`, `nothing`. */
export function gotValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  return value === null || typeof value === 'object' ? showValue(value) : `${typeName(value)} ${showValue(value)}`;
}

export function valueAt(root: unknown, path: KeyPath): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

const EXPECTED: Record<string, string> = { int: 'an integer', number: 'a number', string: 'a string', boolean: 'a boolean (true/false)', object: 'a mapping (key: value)' };

/** `training.lr: expected a number, got string "fast"`. */
export function describeIssue(issue: z.core.$ZodIssue, raw: unknown, didYouMean: (input: string, values: readonly string[]) => string | undefined, isIntegerKey: boolean): string {
  const path = joinPath(issue.path);
  const value = valueAt(raw, issue.path);
  const got = gotValue(value);
  switch (issue.code) {
    case 'invalid_type': {
      // zod reports a string given to z.int() as "expected number"; the schema knows better.
      const expected = issue.expected === 'number' && isIntegerKey ? 'int' : issue.expected;
      const wanted = EXPECTED[expected] ?? expected;
      if (issue.expected === 'int' && typeof value === 'number') return `${path}: expected an integer, got ${showValue(value)}`;
      const hint =
        issue.expected !== 'object' && value === null
          ? ' (this key cannot be null: remove it to use the default)'
          : (expected === 'number' || expected === 'int') && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))
            ? ' (write it without quotes)'
            : '';
      return `${path}: expected ${wanted}, got ${got}${hint}`;
    }
    case 'too_small': {
      const op = issue.inclusive === false ? '>' : '>=';
      if (issue.origin === 'string') return `${path}: must not be empty`;
      return `${path}: must be ${op} ${String(issue.minimum)}, got ${showValue(value)}`;
    }
    case 'too_big': {
      const op = issue.inclusive === false ? '<' : '<=';
      return `${path}: must be ${op} ${String(issue.maximum)}, got ${showValue(value)}`;
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => showValue(v)).join(', ');
      const guess = typeof value === 'string' ? didYouMean(value, issue.values.map(String)) : undefined;
      return `${path}: must be one of ${allowed}, got ${showValue(value)}${guess !== undefined ? ` (did you mean ${showValue(guess)}?)` : ''}`;
    }
    case 'invalid_format':
      return `${path}: ${issue.format === 'url' ? 'expected an http(s) URL' : issue.format === 'regex' ? issue.message : `expected ${issue.format} format`}, got ${showValue(value)}`;
    default:
      return `${path}: ${issue.message}`;
  }
}
