import type { z } from 'zod';
import { didYouMean } from '../config/index.js';
import { EXPERIMENT_SECTIONS, ExperimentConfigSchema, SLURMConfigSchema, type ExperimentConfig } from './schema.js';
import { ValidationError } from './errors.js';

function joinPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') return 'a mapping';
  return String(v);
}

interface Described {
  path: string;
  expected: string;
  message: string;
  suggestion: string;
}

function candidatesAt(path: ReadonlyArray<PropertyKey>): string[] {
  if (path.length === 0) return [...EXPERIMENT_SECTIONS, 'experiment_name'];
  if (path.length === 1 && path[0] === 'slurm') return Object.keys(SLURMConfigSchema.shape);
  return [];
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): Described[] {
  const path = joinPath(issue.path);
  const got = shown(valueAt(raw, issue.path));
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => {
        const full = path === '' ? k : `${path}.${k}`;
        const guess = didYouMean(k, candidatesAt(issue.path));
        return {
          path: full,
          expected: 'a known key',
          message: `${full}: unknown key`,
          suggestion: guess !== undefined ? `Did you mean "${guess}"?` : `Remove it; the known keys here are ${candidatesAt(issue.path).join(', ')}.`,
        };
      });
    case 'invalid_type': {
      const expected = issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`;
      return [{ path, expected, message: `${path}: expected ${expected}, got ${got}`, suggestion: `Write ${expected} at ${path}.` }];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const rel = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      const expected = issue.origin === 'string' ? `a string of length ${rel} ${String(bound)}` : `a value ${rel} ${String(bound)}`;
      return [{ path, expected, message: `${path}: expected ${expected}, got ${got}`, suggestion: `Use ${expected} at ${path}.` }];
    }
    case 'invalid_value': {
      const expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
      const guess = typeof valueAt(raw, issue.path) === 'string' ? didYouMean(String(valueAt(raw, issue.path)), issue.values.map(String)) : undefined;
      return [{ path, expected, message: `${path}: expected ${expected}, got ${got}`, suggestion: guess !== undefined ? `Did you mean "${guess}"?` : `Use ${expected}.` }];
    }
    default:
      return [{ path, expected: issue.message, message: `${path === '' ? '(top level)' : path}: ${issue.message}, got ${got}`, suggestion: `Correct ${path === '' ? 'the document' : path}.` }];
  }
}

/** `experiment_name` (the reference's spelling) becomes `experimentName`. */
export function normalizeExperimentInput(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const o = raw as Record<string, unknown>;
  if (!('experiment_name' in o) || 'experimentName' in o) return raw;
  const { experiment_name: name, ...rest } = o;
  return { experimentName: name, ...rest };
}

/**
 * Validates an experiment config and fills its defaults. Throws one ValidationError listing every problem, each with
 * its key path, the value expected and what to do; `source` (a file, or a grid and combination) is named in it.
 */
export function validateExperimentConfig(raw: unknown, options: { source?: string } = {}): ExperimentConfig {
  const input = normalizeExperimentInput(raw);
  const where = options.source !== undefined ? ` in ${options.source}` : '';
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError(`An experiment config${where} must be a mapping, got ${shown(input)}`, {
      file: options.source,
      expected: 'a mapping with experimentName, model, training, data, optimizer, ...',
      suggestions: ['Start the file with `experimentName: my-run` followed by sections such as `model:`.'],
    });
  }
  const parsed = ExperimentConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.flatMap((i) => describeIssue(i, input));
  const first = issues[0];
  const message = issues.length === 1 ? `Invalid experiment config${where}: ${first.message}` : `Invalid experiment config${where} (${issues.length} problems):\n${issues.map((i) => `  - ${i.message}`).join('\n')}`;
  throw new ValidationError(message, {
    file: options.source,
    configKey: first.path === '' ? undefined : first.path,
    expected: first.expected,
    suggestions: [...new Set(issues.map((i) => i.suggestion))],
  });
}
