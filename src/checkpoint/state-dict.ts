import { CheckpointValidationError } from '../errors/index.js';
import { dtypeOfArray, isTypedArray, type Dtype, type TypedArray } from './dtypes.js';
import { checkTensor, isTensor, type Tensor } from './tensor.js';

/** JSON-able values; non-finite numbers and bigints are also kept (encoded, never evaluated). */
export type StateValue = Tensor | TypedArray | string | number | boolean | bigint | null | StateValue[] | StateDict;
export interface StateDict {
  [key: string]: StateValue;
}

/** A JSON value as stored in the manifest (the non-tensor part of the state, tensors replaced by references). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** One tensor found while encoding: where it was in the tree and its data. */
export interface FoundTensor {
  id: string;
  path: string[];
  dtype: Dtype;
  shape: number[];
  data: TypedArray;
}

/** Leaves room under the manifest's own nesting limit (MAX_STATE_DEPTH in manifest.ts) for its wrapping. */
const MAX_TREE_DEPTH = 500;

function escapeKey(key: string): string {
  return key.startsWith('$') ? `$${key}` : key;
}

function unescapeKey(key: string): string {
  return key.startsWith('$$') ? key.slice(1) : key;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Splits a state tree into a JSON tree (tensors replaced by `{"$tensor": id}`) and the list of tensors.
 * Object keys starting with `$` are escaped with one more `$`, so no user value can pose as a reference.
 */
export function encodeState(tree: StateValue): { json: Json; tensors: FoundTensor[] } {
  const tensors: FoundTensor[] = [];
  const ids = new Set<string>();
  const newId = (path: string[]): string => {
    const base = path.length === 0 ? 'tensor' : path.join('.');
    let id = base;
    for (let n = 2; ids.has(id); n++) id = `${base}#${n}`;
    ids.add(id);
    return id;
  };
  const seen = new Set<object>();
  const walk = (value: StateValue | undefined, path: string[]): Json => {
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (value === undefined) return null;
    if (typeof value === 'number') return Number.isFinite(value) ? value : { $num: String(value) };
    if (typeof value === 'bigint') return { $bigint: value.toString() };
    if (typeof value !== 'object') {
      throw new CheckpointValidationError(`State value at "${path.join('.')}" is a ${typeof value}, which a checkpoint cannot hold`, {
        invalidKeys: [path.join('.')],
        suggestions: ['State holds tensors ({dtype, shape, data}), typed arrays, and JSON-able values only; nothing is ever evaluated on load.'],
      });
    }
    if (isTypedArray(value)) {
      const id = newId(path);
      tensors.push({ id, path, dtype: dtypeOfArray(value), shape: [value.length], data: value });
      return { $tensor: id, $bare: true };
    }
    if (isTensor(value)) {
      checkTensor(value, path.join('.'));
      const id = newId(path);
      tensors.push({ id, path, dtype: value.dtype, shape: [...value.shape], data: value.data });
      return { $tensor: id };
    }
    if (path.length > MAX_TREE_DEPTH) {
      throw new CheckpointValidationError(`State is nested more than ${MAX_TREE_DEPTH} levels deep at "${path.slice(0, 5).join('.')}..."`, {
        suggestions: ['Flatten the state; loading refuses manifests this deep.'],
      });
    }
    if (seen.has(value)) {
      throw new CheckpointValidationError(`State has a cycle at "${path.join('.')}"`, { invalidKeys: [path.join('.')], suggestions: ['State must be a tree.'] });
    }
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)]));
      if (!isPlainObject(value)) {
        throw new CheckpointValidationError(`State value at "${path.join('.')}" is a ${value.constructor?.name ?? 'class instance'}, not a plain object`, {
          invalidKeys: [path.join('.')],
          suggestions: ['Convert it to a plain object, an array, or a tensor ({dtype, shape, data}) before checkpointing (e.g. with its stateDict()).'],
        });
      }
      const out: { [key: string]: Json } = {};
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue;
        out[escapeKey(k)] = walk(v, [...path, k]);
      }
      return out;
    } finally {
      seen.delete(value);
    }
  };
  const json = walk(tree, []);
  return { json, tensors };
}

/** Rebuilds a state tree from its JSON form, taking each referenced tensor from `resolve`. */
export function decodeState(json: Json, resolve: (id: string) => Tensor): StateValue {
  const walk = (value: Json): StateValue => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(walk);
    const keys = Object.keys(value);
    if (typeof value.$tensor === 'string' && keys.every((k) => k === '$tensor' || k === '$bare')) {
      const t = resolve(value.$tensor);
      return value.$bare === true ? t.data : t;
    }
    if (keys.length === 1 && typeof value.$num === 'string') return Number(value.$num);
    if (keys.length === 1 && typeof value.$bigint === 'string' && /^-?\d+$/.test(value.$bigint)) return BigInt(value.$bigint);
    const out: StateDict = {};
    for (const k of keys) {
      if (k.startsWith('$') && !k.startsWith('$$')) {
        throw new CheckpointValidationError(`Manifest state has an unknown reserved key "${k}"`, { invalidKeys: [k] });
      }
      out[unescapeKey(k)] = walk(value[k]);
    }
    return out;
  };
  return walk(json);
}

/** A deep copy: tensors get fresh arrays, so later changes to the live ones cannot reach it. */
export function cloneState<T extends StateValue>(value: T): T {
  const walk = (v: StateValue): StateValue => {
    if (v === null || typeof v !== 'object') return v;
    if (isTypedArray(v)) return v.slice();
    if (isTensor(v)) return { dtype: v.dtype, shape: [...v.shape], data: v.data.slice() };
    if (Array.isArray(v)) return v.map(walk);
    const out: StateDict = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = walk(x);
    return out;
  };
  return walk(value) as T;
}
