import { z } from 'zod';
import type { ElasticErrorOptions } from './base.js';
import { ConfigurationError } from './configuration.js';

/**
 * The one argument check of the package, on zod: config classes, scaling, metrics and the agent's launcher settings
 * all use it, so a bad value reads the same everywhere: the key, what it must be, the value given, what to do.
 */
export interface ValueRule<T> {
  schema: z.ZodType<T>;
  /** What a good value is, completing "KEY must be ...". */
  wants: string;
}

/** An integer (a safe one) >= `min`. */
export const intAtLeast = (min: number): ValueRule<number> => ({ schema: z.int().min(min), wants: `an integer >= ${min}` });
/** A finite number > `min` (>= with `inclusive`); `unit` completes the wording, e.g. "seconds". */
export const numberAbove = (min: number, options: { inclusive?: boolean; unit?: string } = {}): ValueRule<number> => ({
  schema: options.inclusive === true ? z.number().min(min) : z.number().gt(min),
  wants: `a finite number ${options.inclusive === true ? '>=' : '>'} ${min}${options.unit !== undefined ? ` (${options.unit})` : ''}`,
});
export const nonEmptyString: ValueRule<string> = { schema: z.string().min(1), wants: 'a non-empty string' };
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T): ValueRule<T[number]> => ({
  schema: z.enum(values) as unknown as z.ZodType<T[number]>,
  wants: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
});

/** A short rendering of any value for a message: strings quoted, objects as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

/** `KEY must be WANTS, got VALUE`, or undefined when the value follows the rule (for callers that collect problems). */
export function problemOf<T>(value: unknown, key: string, rule: ValueRule<T>): string | undefined {
  return rule.schema.safeParse(value).success ? undefined : `${key} must be ${rule.wants}, got ${show(value)}`;
}

export interface CheckOptions extends ElasticErrorOptions {
  /** The key's path for ConfigurationError.configKey; default `key`. */
  configKey?: string;
  /** Another error than ConfigurationError (e.g. CheckpointValidationError for state read back from a file). */
  error?: (message: string, key: string, options: ElasticErrorOptions) => Error;
}

/** The value, typed, when it follows the rule; else throws (ConfigurationError unless `options.error`) naming key, rule and value. */
export function check<T>(value: unknown, key: string, rule: ValueRule<T>, options: CheckOptions = {}): T {
  const parsed = rule.schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const message = `${key} must be ${rule.wants}, got ${show(value)}`;
  const advice: ElasticErrorOptions = { suggestions: options.suggestions ?? [`Pass ${rule.wants} for ${key}.`], cause: options.cause };
  if (options.error !== undefined) throw options.error(message, key, advice);
  throw new ConfigurationError(message, { ...advice, configKey: options.configKey ?? key });
}
