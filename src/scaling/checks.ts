import { check, intAtLeast, numberAbove } from '../errors/index.js';

/** Argument checks of the scaling classes: the package's one helper (src/errors/checks.ts), with scaling's advice. */

export { show } from '../errors/index.js';

export const positiveInt = (value: unknown, key: string): number => check(value, key, intAtLeast(1), { suggestions: [`Pass a positive integer for ${key}.`] });

export const nonNegativeInt = (value: unknown, key: string): number => check(value, key, intAtLeast(0), { suggestions: [`Pass 0 or a positive integer for ${key}.`] });

export const positiveFinite = (value: unknown, key: string): number => check(value, key, numberAbove(0), { suggestions: [`Pass a positive learning rate for ${key}, e.g. 1e-4.`] });

export const nonNegativeFinite = (value: unknown, key: string): number => check(value, key, numberAbove(0, { inclusive: true }), { suggestions: [`Pass 0 or a positive number for ${key}.`] });
