import { z } from 'zod';
import { check, CheckpointValidationError, intAtLeast, nonEmptyString, numberAbove, type ValueRule } from '../errors/index.js';

/** Seconds since the Unix epoch; injectable so tests and replays are deterministic. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now() / 1000;

// Argument checks: the package's one helper (src/errors/checks.ts), with the metrics' advice.
export const nonNegative = (value: unknown, key: string): number =>
  check(value, key, numberAbove(0, { inclusive: true }), { suggestions: [`Pass ${key} in seconds (or as a count), measured, not NaN or negative.`] });

export const nonNegativeInt = (value: unknown, key: string): number => check(value, key, intAtLeast(0), { suggestions: [`Pass ${key} as a count.`] });

export const label = (value: unknown, key: string): string => check(value, key, nonEmptyString, { suggestions: [`Name the ${key}, e.g. 'nvme'.`] });

/** Reading metrics back from JSON (a checkpoint): every field is checked, a bad one is a CheckpointValidationError. */
export type JsonRecord = Record<string, unknown>;

const restoreHint = ['Pass what TrainingMetrics.toJSON() produced (possibly through JSON.stringify/parse).'];
const fromFile = (message: string, key: string): Error => new CheckpointValidationError(`metrics ${message}`, { invalidKeys: [key], suggestions: restoreHint });

const RECORD: ValueRule<JsonRecord> = { schema: z.record(z.string(), z.unknown()), wants: 'an object' };
const ARRAY: ValueRule<unknown[]> = { schema: z.array(z.unknown()), wants: 'an array' };
const FINITE: ValueRule<number> = { schema: z.number(), wants: 'a finite number' };
const OPT_STRING: ValueRule<string | null> = { schema: z.string().nullish().transform((v) => v ?? null), wants: 'a string or null' };

export function rec(value: unknown, where: string): JsonRecord {
  // The record itself, not zod's copy: callers read on from it.
  check(value, where, RECORD, { error: fromFile });
  return value as JsonRecord;
}

export function arr(value: unknown, where: string): unknown[] {
  check(value, where, ARRAY, { error: fromFile });
  return value as unknown[];
}

export const num = (r: JsonRecord, key: string, where: string): number => check(r[key], `${where}.${key}`, FINITE, { error: fromFile });

export const optStr = (r: JsonRecord, key: string, where: string): string | null => check(r[key], `${where}.${key}`, OPT_STRING, { error: fromFile });

export const mean = (total: number, count: number): number => (count === 0 ? 0 : total / count);
