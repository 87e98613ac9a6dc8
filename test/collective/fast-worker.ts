/**
 * A worker for the zero-copy, mixed add-on, kill and network-namespace tests (started as a real
 * process by launch-helper.ts or netns.ts). The scenario is the first argument; results are
 * printed as "@@{json}" lines.
 */
import { createHash } from 'node:crypto';
import {
  setupDistributedEnvironment,
  cleanupDistributed,
  getProcessGroup,
  getRank,
  getWorldSize,
  reductionPath,
  CollectiveError,
  PeerLostError,
  type ReduceOp,
  type ReducibleArray,
  type ReducibleDType,
} from '../../src/collective/index.js';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`@@${JSON.stringify({ ...obj, at: Date.now() })}\n`);
}

const CTORS = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;
const DTYPES: ReducibleDType[] = ['float32', 'float64', 'int32'];
const OPS: ReduceOp[] = ['sum', 'avg', 'max', 'min'];

function hash(a: ReducibleArray): string {
  return createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
}

/** A deterministic generator (xorshift32) so every rank can make every rank's data. */
function rng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Rank `rank`'s data for call `seed`: random floats with NaN, infinities, -0 and denormals mixed in (floats), random int32s (overflowing sums). */
function fill(a: ReducibleArray, dtype: ReducibleDType, rank: number, seed: number): void {
  const next = rng(rank * 1000 + seed + 1);
  const special = [NaN, Infinity, -Infinity, -0, 0, 1e-310, 1.4e-45, -5e-324];
  for (let i = 0; i < a.length; i++) {
    const u = next();
    if (dtype === 'int32') a[i] = u | 0;
    else if (u % 53 === 0) a[i] = special[(u >>> 8) % special.length];
    else a[i] = ((u / 0x100000000) * 2 - 1) * (dtype === 'float32' ? 1e4 : 1e6);
  }
}

/** Small integers: every reduction is exact in any order, so the expected value is exact. */
function exact(rank: number, i: number, seed: number): number {
  return ((rank * 7919 + i * 104729 + seed * 31) % 201) - 100;
}

function expectExact(dtype: ReducibleDType, op: ReduceOp, i: number, n: number, seed: number): number {
  let acc = exact(0, i, seed);
  for (let r = 1; r < n; r++) {
    const v = exact(r, i, seed);
    acc = op === 'max' ? Math.max(acc, v) : op === 'min' ? Math.min(acc, v) : acc + v;
  }
  if (op !== 'avg') return acc;
  const q = acc / n;
  return dtype === 'int32' ? Math.trunc(q) | 0 : dtype === 'float32' ? Math.fround(q) : q;
}

/**
 * Zero-copy buffers for every dtype and op: exact values checked against the expected result, and
 * random values (NaN, ±Infinity, -0, denormals) checked bit for bit against the copy path on the
 * same data; then back-to-back calls (no barrier between) on one buffer whose contents change
 * every call, and a view into a larger allocation.
 */
async function zeroCopy(length: number): Promise<void> {
  const g = getProcessGroup();
  const r = getRank();
  const n = getWorldSize();
  const failures: string[] = [];
  let shared = 0;
  for (const dtype of DTYPES) {
    const ctor = CTORS[dtype];
    const buf = await g.allocateShared(length, dtype);
    if (g.isShared(buf)) shared++;
    for (const op of OPS) {
      const seed = DTYPES.indexOf(dtype) * 10 + OPS.indexOf(op);
      for (let i = 0; i < length; i++) buf[i] = exact(r, i, seed);
      await g.allReduce(buf, op);
      for (let i = 0; i < length; i++) {
        const want = expectExact(dtype, op, i, n, seed);
        if (!Object.is(buf[i], want)) {
          failures.push(`${dtype} ${op} exact at ${String(i)}: ${String(buf[i])} != ${String(want)}`);
          break;
        }
      }
      fill(buf, dtype, r, seed);
      const copy = new ctor(length);
      copy.set(buf as never);
      await g.allReduce(buf, op);
      await g.allReduce(copy, op);
      if (hash(buf) !== hash(copy)) failures.push(`${dtype} ${op}: zero-copy and copy path differ`);
      emit({ type: 'hash', dtype, op, hash: hash(buf) });
    }
  }
  // Back to back: as a training loop makes them, the next call's data written as soon as the last resolves.
  const grads = await g.allocateShared(length, 'float32');
  for (let it = 0; it < 8; it++) {
    for (let i = 0; i < length; i++) grads[i] = exact(r, i, 100 + it);
    await g.allReduce(grads, 'sum');
    for (let i = 0; i < length; i++) {
      if (grads[i] !== expectExact('float32', 'sum', i, n, 100 + it)) {
        failures.push(`back-to-back call ${String(it)} at ${String(i)}: ${String(grads[i])}`);
        break;
      }
    }
  }
  // A view into a larger allocation, at the same place on every rank.
  const big = await g.allocateShared(length * 2, 'float64');
  const view = big.subarray(length >> 1, (length >> 1) + length);
  for (let i = 0; i < length; i++) view[i] = exact(r, i, 7);
  await g.allReduce(view, 'max');
  for (let i = 0; i < length; i++) {
    if (view[i] !== expectExact('float64', 'max', i, n, 7)) {
      failures.push(`view at ${String(i)}: ${String(view[i])}`);
      break;
    }
  }
  emit({ type: 'zerocopy', failures, shared, sharedViews: g.isShared(view) && g.isShared(grads), usesSharedMemory: g.usesSharedMemory, path: reductionPath() });
}

/**
 * Random data (NaN and friends included) of every dtype and op, at sizes that take the direct path
 * (each rank reduces itself: native and JavaScript must agree) and the ring; every rank prints its
 * hashes, the test compares them.
 */
async function agree(): Promise<void> {
  const g = getProcessGroup();
  const r = getRank();
  const n = getWorldSize();
  const hashes: string[] = [];
  const failures: string[] = [];
  for (const length of [3000, 9000, 200_000]) {
    for (const dtype of DTYPES) {
      for (const op of OPS) {
        const seed = length + DTYPES.indexOf(dtype) * 10 + OPS.indexOf(op);
        const buf = new CTORS[dtype](length);
        fill(buf, dtype, r, seed);
        await g.allReduce(buf, op);
        hashes.push(hash(buf));
        for (let i = 0; i < length; i++) buf[i] = exact(r, i, seed);
        await g.allReduce(buf, op);
        for (let i = 0; i < length; i++) {
          if (!Object.is(buf[i], expectExact(dtype, op, i, n, seed))) {
            failures.push(`${String(length)} ${dtype} ${op} at ${String(i)}`);
            break;
          }
        }
      }
    }
  }
  emit({ type: 'agree', hashes, failures, path: reductionPath(), usesSharedMemory: g.usesSharedMemory, connections: g.connections() });
}

/** allReduce on one zero-copy buffer in a loop until the group breaks (a peer is killed). */
async function loopUntilLost(length: number): Promise<void> {
  const g = getProcessGroup();
  const buf = await g.allocateShared(length, 'float32');
  emit({ type: 'ready', shared: g.isShared(buf), pid: process.pid, usesSharedMemory: g.usesSharedMemory, connections: g.connections() });
  let calls = 0;
  try {
    for (;;) {
      buf.fill(getRank() + calls);
      await g.allReduce(buf, 'sum');
      if (++calls === 3) emit({ type: 'looping' });
    }
  } catch (err) {
    emit({
      type: 'lost',
      calls,
      name: err instanceof Error ? err.name : 'unknown',
      message: err instanceof Error ? err.message : String(err),
      isCollective: err instanceof CollectiveError,
      lostRank: err instanceof PeerLostError ? err.lostRank : undefined,
    });
  }
}

/** Rank 0 passes a shared array, the others an ordinary one: a mismatch on every rank, never a wrong read. */
async function mixedKinds(length: number): Promise<void> {
  const g = getProcessGroup();
  const shared = await g.allocateShared(length, 'float32');
  const buf = getRank() === 0 ? shared : new Float32Array(length);
  try {
    await g.allReduce(buf, 'sum');
    emit({ type: 'mixed', ok: true });
  } catch (err) {
    emit({ type: 'mixed', ok: false, name: err instanceof Error ? err.name : 'unknown', message: err instanceof Error ? err.message : String(err) });
  }
}

async function main(): Promise<void> {
  const scenario = process.argv[2] ?? 'zerocopy';
  const length = Number(process.argv[3] ?? '100000');
  await setupDistributedEnvironment({ backend: 'auto', timeoutMs: 30_000 });
  emit({ type: 'setup', pid: process.pid });
  if (scenario === 'zerocopy') await zeroCopy(length);
  else if (scenario === 'agree') await agree();
  else if (scenario === 'mixed-kinds') {
    await mixedKinds(length);
    await cleanupDistributed();
    return;
  } else if (scenario === 'loop') {
    await loopUntilLost(length);
    return;
  } else throw new Error(`unknown scenario ${scenario}`);
  await getProcessGroup().barrier();
  await cleanupDistributed();
  emit({ type: 'done' });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ type: 'fatal', name: err instanceof Error ? err.name : 'unknown', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  },
);
