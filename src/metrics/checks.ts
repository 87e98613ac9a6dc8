import { CheckpointValidationError, ConfigurationError } from '../errors/index.js';

/** Seconds since the Unix epoch; injectable so tests and replays are deterministic. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now() / 1000;

export function nonNegative(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(`${key} must be a finite number >= 0, got ${String(value)}`, { configKey: key, suggestions: [`Pass ${key} in seconds (or as a count), measured, not NaN or negative.`] });
  }
  return value;
}

export function nonNegativeInt(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigurationError(`${key} must be a whole number >= 0, got ${String(value)}`, { configKey: key, suggestions: [`Pass ${key} as a count.`] });
  }
  return value;
}

export function label(value: unknown, key: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new ConfigurationError(`${key} must be a non-empty string, got ${String(value)}`, { configKey: key, suggestions: [`Name the ${key}, e.g. 'nvme'.`] });
  }
  return value;
}

/** Reading metrics back from JSON (a checkpoint): every field is checked. */
export type JsonRecord = Record<string, unknown>;

const restoreHint = ['Pass what TrainingMetrics.toJSON() produced (possibly through JSON.stringify/parse).'];

export function rec(value: unknown, where: string): JsonRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointValidationError(`metrics ${where} must be an object`, { invalidKeys: [where], suggestions: restoreHint });
  }
  return value as JsonRecord;
}

export function arr(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new CheckpointValidationError(`metrics ${where} must be an array`, { invalidKeys: [where], suggestions: restoreHint });
  return value;
}

export function num(r: JsonRecord, key: string, where: string): number {
  const v = r[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new CheckpointValidationError(`metrics ${where}.${key} must be a finite number, got ${String(v)}`, { invalidKeys: [`${where}.${key}`], suggestions: restoreHint });
  }
  return v;
}

export function optStr(r: JsonRecord, key: string, where: string): string | null {
  const v = r[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new CheckpointValidationError(`metrics ${where}.${key} must be a string or null`, { invalidKeys: [`${where}.${key}`], suggestions: restoreHint });
  return v;
}

export const mean = (total: number, count: number): number => (count === 0 ? 0 : total / count);
