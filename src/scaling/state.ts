import { CheckpointValidationError } from '../errors/index.js';

/** Reading a state dict back from a checkpoint: every field is checked, never trusted. */
export type StateRecord = Record<string, unknown>;

export function asRecord(state: unknown, owner: string): StateRecord {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new CheckpointValidationError(`${owner} state must be an object, got ${state === null ? 'null' : Array.isArray(state) ? 'an array' : typeof state}`, {
      suggestions: [`Pass what ${owner}.stateDict() returned.`],
    });
  }
  return state as StateRecord;
}

export function readNumber(state: StateRecord, key: string, owner: string, check: (v: number) => boolean = Number.isFinite): number {
  const v = state[key];
  if (v === undefined) throw new CheckpointValidationError(`${owner} state lacks ${key}`, { missingKeys: [key], suggestions: [`Pass what ${owner}.stateDict() returned.`] });
  if (typeof v !== 'number' || !check(v)) throw new CheckpointValidationError(`${owner} state has an invalid ${key}: ${String(v)}`, { invalidKeys: [key], suggestions: [`Pass what ${owner}.stateDict() returned.`] });
  return v;
}

export const isPositiveInt = (v: number): boolean => Number.isInteger(v) && v >= 1;
export const isNonNegativeInt = (v: number): boolean => Number.isInteger(v) && v >= 0;
