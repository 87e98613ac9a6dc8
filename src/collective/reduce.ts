import { combinerFor, finisherFor, type DTypeName, type ReduceOp, type ReducibleArray } from './dtypes.js';
import { nativeReduce, type NativeReduce } from './shm/native.js';

/** The add-on's codes (native/reduce.h): dtypes as on the wire, avg as sum plus a divisor. */
const DTYPE_CODES: Record<DTypeName, number> = { float32: 0, float64: 1, int32: 2, uint8: -1 };
const OP_CODES: Record<ReduceOp, number> = { sum: 0, avg: 0, max: 1, min: 2 };

/** Below this many elements the JavaScript loop beats the cost of crossing into the add-on. */
const NATIVE_MIN_ELEMS = 512;
/** The JavaScript path works block by block, so a result is still in cache when it is copied out. */
const JS_BLOCK_BYTES = 128 << 10;

let native: NativeReduce | null | undefined;

function nativeOrNull(): NativeReduce | null {
  if (native === undefined) native = nativeReduce();
  return native;
}

/** Which code reduces on this rank: the add-on's vectorized loops, or the JavaScript fallback. */
export function reductionPath(): 'native' | 'javascript' {
  return nativeOrNull() !== null ? 'native' : 'javascript';
}

/**
 * The JavaScript reduction: `dst = dst (op) srcs[0] (op) srcs[1] ...` element-wise, in that order,
 * then (op avg, `finishWith` > 0) divided by `finishWith`, then copied into `copyTo` when given.
 * The add-on computes exactly these bits (same order of operations, same NaN, -0 and overflow
 * rules), so ranks with and without it agree.
 */
export function reduceJs(dtype: DTypeName, op: ReduceOp, dst: ReducibleArray, srcs: readonly ReducibleArray[], finishWith: number, copyTo: ReducibleArray | null = null): void {
  const combine = combinerFor(dtype, op);
  const finish = finishWith > 0 ? finisherFor(dtype, op) : undefined;
  const block = Math.max(1, JS_BLOCK_BYTES / dst.BYTES_PER_ELEMENT);
  for (let b = 0; b < dst.length; b += block) {
    const e = Math.min(dst.length, b + block);
    const mine = dst.subarray(b, e);
    for (const s of srcs) combine(mine, s.subarray(b, e));
    finish?.(mine, finishWith);
    copyTo?.set(mine, b);
  }
}

/** reduceJs's arithmetic, in the add-on when it is loaded and the arrays are large enough to gain from it. */
export function reduceInto(dtype: DTypeName, op: ReduceOp, dst: ReducibleArray, srcs: readonly ReducibleArray[], finishWith: number, copyTo: ReducibleArray | null = null): void {
  const fn = dst.length >= NATIVE_MIN_ELEMS ? nativeOrNull() : null;
  if (fn === null) {
    reduceJs(dtype, op, dst, srcs, finishWith, copyTo);
    return;
  }
  fn(DTYPE_CODES[dtype], OP_CODES[op], dst, srcs as ReducibleArray[], op === 'avg' && finishWith > 0 ? finishWith : 0, copyTo);
}

/** Always the add-on (for tests and benchmarks); throws when it is not loaded. */
export function reduceNative(dtype: DTypeName, op: ReduceOp, dst: ReducibleArray, srcs: readonly ReducibleArray[], finishWith: number, copyTo: ReducibleArray | null = null): void {
  const fn = nativeOrNull();
  if (fn === null) throw new Error('the native add-on is not loaded');
  fn(DTYPE_CODES[dtype], OP_CODES[op], dst, srcs as ReducibleArray[], op === 'avg' && finishWith > 0 ? finishWith : 0, copyTo);
}
