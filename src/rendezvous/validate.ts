import { ConfigurationError } from '../errors/index.js';
import type { SetOptions } from './store.js';

/** setTimeout's largest delay; longer waits are clamped to it (about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

export function checkKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ConfigurationError(`Store ${what} must be a non-empty string, got ${JSON.stringify(key)}`, {
      suggestions: ['Pass a string such as "job1/round/0/addr/3".'],
    });
  }
}

export function checkValue(value: unknown, key: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new ConfigurationError(`Store value for "${key}" must be a string, got ${typeof value}`, {
      suggestions: ['Serialize structured values with JSON.stringify before storing them.'],
    });
  }
}

export function checkTtl(options: SetOptions | undefined, key: string): number | undefined {
  const ttl = options?.ttlMs;
  if (ttl === undefined) return undefined;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new ConfigurationError(`ttlMs for "${key}" must be a positive number of milliseconds, got ${String(ttl)}`, {
      suggestions: ['Omit ttlMs for a key that never expires.'],
    });
  }
  return ttl;
}

export function checkTimeout(timeoutMs: unknown, what: string): number {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new ConfigurationError(`${what} must be a non-negative number of milliseconds (or Infinity), got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

export function checkDelta(delta: unknown, key: string): number {
  if (typeof delta !== 'number' || !Number.isSafeInteger(delta)) {
    throw new ConfigurationError(`add() delta for "${key}" must be a safe integer, got ${String(delta)}`);
  }
  return delta;
}

export function checkKeys(keys: unknown): string[] {
  if (!Array.isArray(keys)) throw new ConfigurationError(`wait() takes an array of keys, got ${typeof keys}`);
  for (const k of keys) checkKey(k);
  return keys as string[];
}

/** Parse a stored counter; a non-integer value means two users share a key by mistake. */
export function parseCounter(value: string | undefined, key: string): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || value.trim() === '') {
    throw new ConfigurationError(`Store key "${key}" holds ${JSON.stringify(value.slice(0, 40))}, not an integer counter`, {
      suggestions: ['Use add() only on keys that hold counters; check for two parts sharing one key name.'],
    });
  }
  return n;
}
