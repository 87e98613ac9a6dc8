import { z } from 'zod';
import { describeError } from '../errors/index.js';
import { describeIssue, gotValue, joinPath, valueAt } from './describe.js';
import { resultOf, type ConfigIssue, type ValidationResult } from './result.js';
import { crossFieldIssues } from './rules.js';
import { defaultConfig, OPEN_SECTIONS, SECTION_NAMES, TrainingConfigSchema, type TrainingConfig } from './schema.js';
import { didYouMean } from './suggest.js';

export interface ConfigValidationResult extends ValidationResult {
  /** The typed config with every default applied; present only when valid. */
  config?: TrainingConfig;
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => v !== null && typeof v === 'object' && !Array.isArray(v);

function objectOf(schema: unknown): z.ZodObject | undefined {
  let s = schema;
  for (let i = 0; i < 5; i++) {
    if (s instanceof z.ZodObject) return s;
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodNullable || s instanceof z.ZodOptional) s = s.unwrap();
    else return undefined;
  }
  return undefined;
}

function unwrap(schema: unknown): unknown {
  let s = schema;
  for (let i = 0; i < 5 && (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodNullable || s instanceof z.ZodOptional); i++) s = s.unwrap();
  return s;
}

/** Whether the key at `path` holds an integer (zod's own issue for a string there only says "number"). */
function isIntegerKey(path: ReadonlyArray<PropertyKey>): boolean {
  let s: unknown = TrainingConfigSchema;
  for (const p of path) {
    const obj = objectOf(s);
    if (obj === undefined || typeof p !== 'string') return false;
    s = obj.shape[p];
  }
  const leaf = unwrap(s);
  return leaf instanceof z.ZodNumber && leaf.format === 'safeint';
}

/** YAML writes an empty mapping as `section:` (null); read it as {} wherever a mapping is expected. */
function normalise(raw: unknown, schema: z.ZodObject): unknown {
  if (!isPlain(raw)) return raw;
  const out: Plain = { ...raw };
  for (const [key, field] of Object.entries(schema.shape)) {
    const inner = objectOf(field);
    if (inner === undefined || !(key in out)) continue;
    out[key] = out[key] === null ? {} : normalise(out[key], inner);
  }
  return out;
}

/** Warnings for keys the schema does not know, with a did-you-mean where one is close. */
function unknownKeys(raw: Plain, schema: z.ZodObject, path: string[], open: boolean, out: ConfigIssue[]): void {
  const known = Object.keys(schema.shape);
  for (const [key, value] of Object.entries(raw)) {
    // hasOwn: a key such as "__proto__" or "toString" must not find the shape's prototype.
    const field = Object.hasOwn(schema.shape, key) ? schema.shape[key] : undefined;
    if (field === undefined) {
      if (path.length === 0 && misplacedKey(key, value, out)) continue;
      const guess = didYouMean(key, known);
      if (open && guess === undefined) continue;
      const full = joinPath([...path, key]);
      const where = path.length === 0 ? `unknown section '${key}' is ignored` : `unknown key ${full} is ${open ? 'kept as written' : 'ignored'}`;
      out.push({ severity: 'warning', path: full, message: `${where}${guess !== undefined ? ` (did you mean '${joinPath([...path, guess])}'?)` : path.length === 0 ? ` (sections: ${known.join(', ')})` : ''}` });
      continue;
    }
    const inner = objectOf(field);
    if (inner !== undefined && isPlain(value)) unknownKeys(value, inner, [...path, key], path.length === 0 && OPEN_SECTIONS.has(key), out);
  }
}

/** The sections that have `key` as one of their own keys. */
function sectionsWithKey(key: string): (typeof SECTION_NAMES)[number][] {
  return SECTION_NAMES.filter((section) => {
    const inner = objectOf(TrainingConfigSchema.shape[section]);
    return inner !== undefined && Object.hasOwn(inner.shape, key);
  });
}

/**
 * A top-level key that belongs to a section (`min_nodes: 0` instead of `elastic: {min_nodes: 0}`) would be ignored
 * and the file pass as valid: an error saying where it belongs, with what its value would be found to be there.
 */
function misplacedKey(key: string, value: unknown, out: ConfigIssue[]): boolean {
  const homes: readonly (typeof SECTION_NAMES)[number][] = sectionsWithKey(key);
  if (homes.length === 0) return false;
  if (homes.length > 1) {
    out.push({ severity: 'error', path: key, message: `${key} is a key of the ${homes.join(' and ')} sections, not a section: write it indented under the one you mean (${homes.map((h) => `${h}.${key}`).join(' or ')})` });
    return true;
  }
  const section = homes[0];
  const field = objectOf(TrainingConfigSchema.shape[section])?.shape[key] as z.ZodType;
  const parsed = field.safeParse(value);
  const raw = { [section]: { [key]: value } };
  const wrong = parsed.success ? '' : `; its value is wrong there too: ${parsed.error.issues.map((i) => describeIssue({ ...i, path: [section, key, ...i.path] }, raw, didYouMean, isIntegerKey([section, key, ...i.path]))).join('; ')}`;
  out.push({ severity: 'error', path: key, message: `${key} is a key of the ${section} section, not a section: write it indented under \`${section}:\` (as ${section}.${key})${wrong}` });
  return true;
}

function validate(input: unknown): ConfigValidationResult {
  if (!isPlain(input)) {
    return resultOf([{ severity: 'error', path: '', message: `the config must be a mapping of sections (${SECTION_NAMES.join(', ')}), got ${gotValue(input)}` }]);
  }
  const raw = normalise(input, TrainingConfigSchema) as Plain;
  const issues: ConfigIssue[] = [];
  unknownKeys(raw, TrainingConfigSchema, [], false, issues);
  const parsed = TrainingConfigSchema.safeParse(raw);
  const badPaths: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = joinPath(issue.path);
      badPaths.push(path);
      issues.push({ severity: 'error', path, message: describeIssue(issue, raw, didYouMean, isIntegerKey(issue.path)) });
    }
  }
  const defaults = defaultConfig();
  const get = (path: string): unknown => {
    if (badPaths.some((p) => p === path || path.startsWith(`${p}.`) || p.startsWith(`${path}.`))) return undefined;
    const keys = path.split('.');
    const v = valueAt(raw, keys);
    return v === undefined ? valueAt(defaults, keys) : v;
  };
  issues.push(...crossFieldIssues(get));
  const result: ConfigValidationResult = resultOf(issues);
  if (result.valid && parsed.success) result.config = parsed.data;
  return result;
}

/**
 * Checks a whole training config (as parsed from YAML or JSON): types, ranges, rules across keys, unknown keys.
 * Never throws: anything unexpected becomes an error of the result.
 */
export function validateElasticConfig(input: unknown): ConfigValidationResult {
  try {
    return validate(input);
  } catch (err) {
    return resultOf([{ severity: 'error', path: '', message: `the config could not be validated: ${describeError(err)}` }]);
  }
}
