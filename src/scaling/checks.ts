import { ConfigurationError } from '../errors/index.js';

/** Argument checks shared by the scaling classes; each names the offending key and value. */

export function positiveInt(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigurationError(`${key} must be a whole number >= 1, got ${show(value)}`, { configKey: key, suggestions: [`Pass a positive integer for ${key}.`] });
  }
  return value;
}

export function nonNegativeInt(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigurationError(`${key} must be a whole number >= 0, got ${show(value)}`, { configKey: key, suggestions: [`Pass 0 or a positive integer for ${key}.`] });
  }
  return value;
}

export function positiveFinite(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`${key} must be a finite number > 0, got ${show(value)}`, { configKey: key, suggestions: [`Pass a positive learning rate for ${key}, e.g. 1e-4.`] });
  }
  return value;
}

export function nonNegativeFinite(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(`${key} must be a finite number >= 0, got ${show(value)}`, { configKey: key, suggestions: [`Pass 0 or a positive number for ${key}.`] });
  }
  return value;
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
