/**
 * The safetensors dtypes and the typed array that holds each in memory. Types JavaScript has no array for
 * (F16, BF16, the 8-bit floats) are carried as raw unsigned integers of the same width: their bits are kept
 * exactly, which is all a checkpoint needs.
 */
export const DTYPES = {
  F64: { bytes: 8, ctor: Float64Array },
  F32: { bytes: 4, ctor: Float32Array },
  F16: { bytes: 2, ctor: Uint16Array },
  BF16: { bytes: 2, ctor: Uint16Array },
  I64: { bytes: 8, ctor: BigInt64Array },
  U64: { bytes: 8, ctor: BigUint64Array },
  I32: { bytes: 4, ctor: Int32Array },
  U32: { bytes: 4, ctor: Uint32Array },
  I16: { bytes: 2, ctor: Int16Array },
  U16: { bytes: 2, ctor: Uint16Array },
  I8: { bytes: 1, ctor: Int8Array },
  U8: { bytes: 1, ctor: Uint8Array },
  BOOL: { bytes: 1, ctor: Uint8Array },
  F8_E4M3: { bytes: 1, ctor: Uint8Array },
  F8_E5M2: { bytes: 1, ctor: Uint8Array },
} as const;

export type Dtype = keyof typeof DTYPES;
export const DTYPE_NAMES = Object.keys(DTYPES) as Dtype[];

export type TypedArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray;

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

export function isTypedArray(value: unknown): value is TypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** The dtype a bare typed array is saved as. */
export function dtypeOfArray(data: TypedArray): Dtype {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Uint16Array) return 'U16';
  if (data instanceof Int8Array) return 'I8';
  return 'U8';
}

/** Whether `data` is the array type that holds `dtype` (Uint8ClampedArray is accepted for 1-byte integers). */
export function arrayMatchesDtype(data: TypedArray, dtype: Dtype): boolean {
  const ctor = DTYPES[dtype].ctor;
  if (data instanceof ctor) return true;
  return ctor === Uint8Array && data instanceof Uint8ClampedArray;
}

/** A view of `byteLength` bytes at `byteOffset` of `buffer` as the array type of `dtype`; copies when unaligned. */
export function viewAs(dtype: Dtype, buffer: ArrayBufferLike, byteOffset: number, byteLength: number): TypedArray {
  const { bytes, ctor } = DTYPES[dtype];
  const count = byteLength / bytes;
  if (byteOffset % bytes === 0) return new ctor(buffer as ArrayBuffer, byteOffset, count);
  const copy = new Uint8Array(byteLength);
  copy.set(new Uint8Array(buffer, byteOffset, byteLength));
  return new ctor(copy.buffer, 0, count);
}
