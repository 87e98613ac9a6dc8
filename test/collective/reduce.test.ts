import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { reduceInto, reduceJs, reduceNative, reductionPath } from '../../src/collective/reduce.js';
import type { ReduceOp, ReducibleArray, ReducibleDType } from '../../src/collective/index.js';
import { REPO } from './launch-helper.js';

const CTORS = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;
const DTYPES: ReducibleDType[] = ['float32', 'float64', 'int32'];
const OPS: ReduceOp[] = ['sum', 'avg', 'max', 'min'];

/** Seeded xorshift32, so a failure is reproducible. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

const F32_SPECIAL = [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0xffffffff, 0x7f800000, 0xff800000, 0x80000000, 0, 0x00000001, 0x007fffff, 0x80000001, 0x7f7fffff, 0xff7fffff];
const F64_SPECIAL: [number, number][] = [
  [0x7ff80000, 0],
  [0xfff80000, 0],
  [0x7ff00000, 1],
  [0x7ff40000, 5],
  [0x7ff00000, 0],
  [0xfff00000, 0],
  [0x80000000, 0],
  [0, 0],
  [0, 1],
  [0x000fffff, 0xffffffff],
  [0x80000000, 1],
  [0x7fefffff, 0xffffffff],
];

/**
 * Random bit patterns (so every float class occurs: NaNs with any payload, quiet and signalling,
 * infinities, denormals, ±0, huge and tiny numbers), a share of them the special values above,
 * and for int32 extremes whose sums overflow.
 */
function randomArray(dtype: ReducibleDType, length: number, next: () => number): ReducibleArray {
  const a = new CTORS[dtype](length);
  const u = new Uint32Array(a.buffer);
  for (let i = 0; i < u.length; i++) u[i] = next();
  for (let i = 0; i < length; i++) {
    const pick = next() % 6;
    if (dtype === 'float32' && pick === 0) u[i] = F32_SPECIAL[next() % F32_SPECIAL.length];
    else if (dtype === 'float32' && pick === 1) a[i] = ((next() / 2 ** 32) * 2 - 1) * 100;
    else if (dtype === 'float64' && pick === 0) {
      const [hi, lo] = F64_SPECIAL[next() % F64_SPECIAL.length];
      u[2 * i] = lo;
      u[2 * i + 1] = hi;
    } else if (dtype === 'float64' && pick === 1) a[i] = ((next() / 2 ** 32) * 2 - 1) * 1e6;
    else if (dtype === 'int32' && pick === 0) a[i] = [0x7fffffff, -0x80000000, -1, 0, 1][next() % 5];
  }
  return a;
}

function firstDifference(a: ReducibleArray, b: ReducibleArray): string | undefined {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      const e = Math.floor(i / a.BYTES_PER_ELEMENT);
      return `element ${String(e)}: ${String(a[e])} vs ${String(b[e])}`;
    }
  }
  return undefined;
}

describe('reductions: native add-on against the JavaScript loops', () => {
  it('the add-on is built, loads and exports the reductions', () => {
    assert.equal(reductionPath(), 'native', 'run node scripts/build-native.mjs');
  });

  for (const dtype of DTYPES) {
    for (const op of OPS) {
      it(`${dtype} ${op}: bit for bit on random data (NaN payloads, ±Infinity, denormals, -0, overflow), 1 to 4 sources, odd lengths`, () => {
        const next = rng(DTYPES.indexOf(dtype) * 100 + OPS.indexOf(op) + 1);
        for (const sources of [1, 2, 3, 4]) {
          for (const length of [1, 7, 1000, 4099, 70_001]) {
            const dst = randomArray(dtype, length, next);
            const srcs = Array.from({ length: sources }, () => randomArray(dtype, length, next));
            const finishWith = op === 'avg' ? sources + 1 : next() % 2 === 0 ? 0 : sources + 1;
            const js = dst.slice();
            const nat = dst.slice();
            const jsCopy = new CTORS[dtype](length);
            const natCopy = new CTORS[dtype](length);
            reduceJs(dtype, op, js, srcs, finishWith, jsCopy);
            reduceNative(dtype, op, nat, srcs, finishWith, natCopy);
            const diff = firstDifference(js, nat) ?? firstDifference(jsCopy, natCopy) ?? firstDifference(js, natCopy);
            assert.equal(diff, undefined, `${String(sources)} sources, ${String(length)} elements: ${diff ?? ''}`);
          }
        }
      });
    }
  }

  it('semantics: NaN propagates and is canonical, max/min keep the first of -0 and +0, int32 sums wrap, avg truncates', () => {
    for (const run of [reduceJs, reduceNative]) {
      const f = new Float32Array(600).fill(1);
      const g = new Float32Array(600).fill(2);
      new Uint32Array(f.buffer)[0] = 0x7f800001; // a signalling NaN in dst
      new Uint32Array(g.buffer)[1] = 0xffc01234; // a negative NaN with a payload in the source
      f[2] = -0;
      g[2] = 0;
      run('float32', 'max', f, [g], 0);
      assert.deepEqual([...new Uint32Array(f.buffer, 0, 3)], [0x7fc00000, 0x7fc00000, 0x80000000]);
      const i = new Int32Array(600).fill(0x7fffffff);
      run('int32', 'sum', i, [new Int32Array(600).fill(1)], 0);
      assert.equal(i[0], -0x80000000);
      const j = new Int32Array(600).fill(-7);
      run('int32', 'avg', j, [new Int32Array(600).fill(0)], 2);
      assert.equal(j[0], -3);
    }
  });

  it('reduceInto picks either and gives the same bits; the add-on refuses arrays of another kind, length or overlapping', () => {
    const next = rng(99);
    for (const length of [10, 600, 100_000]) {
      const dst = randomArray('float32', length, next);
      const src = randomArray('float32', length, next);
      const a = dst.slice();
      reduceInto('float32', 'sum', a, [src], 0);
      const b = dst.slice();
      reduceJs('float32', 'sum', b, [src], 0);
      assert.equal(firstDifference(a, b), undefined);
    }
    const dst = new Float32Array(1000);
    assert.throws(() => reduceNative('float32', 'sum', dst, [new Float64Array(1000)], 0), /source must be a typed array of the dtype/);
    assert.throws(() => reduceNative('float32', 'sum', dst, [new Float32Array(999)], 0), /dst's length/);
    assert.throws(() => reduceNative('float32', 'sum', dst, [dst.subarray(0, 1000)], 0), /overlaps dst/);
    assert.throws(() => reduceNative('float32', 'sum', dst, [new Float32Array(1000)], 0, dst), /copyTo overlaps dst/);
  });

  it('EH_NATIVE=0 turns the add-on off: reductions in JavaScript, no shared memory', () => {
    const script = "import('./src/collective/reduce.ts').then(async (r) => { const s = await import('./src/collective/shm/segments.ts'); console.log(JSON.stringify([r.reductionPath(), s.sharedMemoryCapable()])); })";
    const out = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO, env: { ...process.env, EH_NATIVE: '0' }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(out.status, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout.trim()), ['javascript', false]);
  });
});
