import { CheckpointValidationError } from '../errors/index.js';
import { DTYPES, DTYPE_NAMES, arrayMatchesDtype, isDtype, isTypedArray, type Dtype, type TypedArray } from './dtypes.js';

/** A named array with a shape: what a state dict holds for every parameter or optimizer slot. */
export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: TypedArray;
}

export function isTensor(value: unknown): value is Tensor {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return isDtype(v.dtype) && Array.isArray(v.shape) && isTypedArray(v.data);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws unless `t`'s shape is whole non-negative numbers and its data has exactly that many elements of its dtype. */
export function checkTensor(t: Tensor, name: string): void {
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new CheckpointValidationError(`Tensor "${name}" has an invalid shape [${t.shape.join(', ')}]`, { invalidKeys: [name], suggestions: ['Shapes are lists of non-negative integers.'] });
    }
  }
  if (!arrayMatchesDtype(t.data, t.dtype)) {
    throw new CheckpointValidationError(`Tensor "${name}" has dtype ${t.dtype} but its data is a ${t.data.constructor.name}`, {
      invalidKeys: [name],
      suggestions: [`Hold ${t.dtype} data in a ${DTYPES[t.dtype].ctor.name}.`],
    });
  }
  const n = elementCount(t.shape);
  if (n !== t.data.length) {
    throw new CheckpointValidationError(`Tensor "${name}" has shape [${t.shape.join(', ')}] (${n} elements) but ${t.data.length} data elements`, { invalidKeys: [name] });
  }
}

export function tensor(dtype: Dtype, shape: number[], data: TypedArray): Tensor {
  // Checked here too because JavaScript callers get no compile-time check of the argument order.
  if (!isDtype(dtype)) {
    throw new CheckpointValidationError(`tensor(dtype, shape, data): ${String(dtype)} is not a dtype`, { invalidKeys: ['dtype'], suggestions: [`Use one of ${DTYPE_NAMES.join(', ')}, e.g. tensor('F32', [2, 3], new Float32Array(6)).`] });
  }
  if (!Array.isArray(shape) || !isTypedArray(data)) {
    throw new CheckpointValidationError('tensor(dtype, shape, data): shape must be an array of integers and data a typed array', { invalidKeys: ['shape', 'data'], suggestions: ["e.g. tensor('F32', [2, 3], new Float32Array(6))."] });
  }
  const t = { dtype, shape: [...shape], data };
  checkTensor(t, 'tensor');
  return t;
}

/** The bytes of a typed array, without copying. */
export function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
