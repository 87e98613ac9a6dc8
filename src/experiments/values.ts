import { createHash } from 'node:crypto';
import { ConfigurationError } from '../errors/index.js';

/** A value a parameter can take: what YAML and JSON can hold. */
export type ParamValue = string | number | boolean | null | ParamValue[] | { [key: string]: ParamValue };
/** One combination: dotted key -> value. */
export type ParameterSet = Record<string, ParamValue>;

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
// Keys are written into objects with setPath: these would reach the prototype.
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);

/** Throws unless `key` is a dotted key such as `optimizer.lr` (letters, digits, `_`, `-` per segment). */
export function checkKey(key: unknown, where: string): string {
  if (typeof key !== 'string' || key === '') {
    throw new ConfigurationError(`${where}: a parameter key must be a non-empty string, got ${JSON.stringify(key)}`, { suggestions: ['Name the key with dots, e.g. "optimizer.lr".'] });
  }
  for (const seg of key.split('.')) {
    if (!SEGMENT.test(seg) || FORBIDDEN.has(seg)) {
      throw new ConfigurationError(`${where}: parameter key ${JSON.stringify(key)} has an invalid segment ${JSON.stringify(seg)}`, {
        configKey: key,
        suggestions: ['Each dot-separated segment starts with a letter or "_" and holds letters, digits, "_" and "-" (not __proto__, prototype or constructor).'],
      });
    }
  }
  return key;
}

/** Throws unless `v` is a finite JSON value (no undefined, functions, NaN or Infinity). */
export function checkValue(v: unknown, key: string, where: string): ParamValue {
  const bad = (what: string): never => {
    throw new ConfigurationError(`${where}: a value of ${key} is ${what}`, { configKey: key, suggestions: ['Values are strings, finite numbers, booleans, null, or lists and mappings of those.'] });
  };
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : bad(String(v));
  if (Array.isArray(v)) return v.map((x) => checkValue(x, key, where));
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, ParamValue> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (FORBIDDEN.has(k)) bad(`a mapping with the key ${k}`);
      out[k] = checkValue(x, key, where);
    }
    return out;
  }
  return bad(typeof v);
}

/** JSON with sorted keys: the same text for the same content whatever the insertion order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function sameValue(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** The first 8 hex digits of SHA-256 over the canonical JSON of `v`. */
export function hash8(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 8);
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Sets a dotted key in a tree, creating mappings on the way (a non-mapping in the way is replaced). */
export function setPath(root: Tree, key: string, value: unknown): void {
  const segs = key.split('.');
  let cur = root;
  for (const seg of segs.slice(0, -1)) {
    if (!isTree(cur[seg])) cur[seg] = {};
    cur = cur[seg] as Tree;
  }
  cur[segs[segs.length - 1]] = value;
}

export function deepClone<T>(v: T): T {
  return structuredClone(v);
}

/** `over` merged into a copy of `base`: mappings merge key by key, anything else replaces. */
export function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = deepClone(base);
  for (const [k, v] of Object.entries(over)) {
    out[k] = isTree(v) && isTree(out[k]) ? deepMerge(out[k] as Tree, v) : deepClone(v);
  }
  return out;
}

/** The dotted parameter set as a nested tree. */
export function toTree(params: ParameterSet): Tree {
  const t: Tree = {};
  for (const [k, v] of Object.entries(params)) setPath(t, k, v);
  return t;
}
