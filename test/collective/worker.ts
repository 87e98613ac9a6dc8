/**
 * A worker for the collective tests, started by launch-helper.ts as a real process. The scenario
 * is the first argument; results are printed as "@@{json}" lines.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import {
  setupDistributedEnvironment,
  cleanupDistributed,
  getProcessGroup,
  getRank,
  getWorldSize,
  isMainProcess,
  allReduce,
  broadcast,
  allGather,
  reduceScatter,
  barrier,
  broadcastObject,
  partRange,
  CollectiveError,
  PeerLostError,
  CollectiveTimeoutError,
  type ReduceOp,
  type ReducibleArray,
  type CollectiveArray,
} from '../../src/collective/index.js';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`@@${JSON.stringify({ ...obj, at: Date.now() })}\n`);
}

function describe(err: unknown): Record<string, unknown> {
  if (err instanceof CollectiveError) {
    return {
      name: err.name,
      message: err.message,
      isCollective: true,
      lostRank: err instanceof PeerLostError ? err.lostRank : undefined,
      waitingFor: err instanceof CollectiveTimeoutError ? err.waitingFor : undefined,
    };
  }
  return { name: err instanceof Error ? err.name : 'unknown', message: err instanceof Error ? err.message : String(err), isCollective: false };
}

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;
const CTORS: Record<string, Ctor> = { float32: Float32Array, float64: Float64Array, int32: Int32Array };

// Small integers: every sum is exact in any order, so the reference is exact too.
function valueOf(rank: number, i: number, seed: number): number {
  return ((rank * 7919 + i * 104729 + seed * 31) % 201) - 100;
}

function hash(a: CollectiveArray): string {
  return createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
}

function reference(ctor: Ctor, len: number, n: number, op: ReduceOp, seed: number): ReducibleArray {
  const out = new ctor(len);
  for (let i = 0; i < len; i++) {
    let acc = valueOf(0, i, seed);
    for (let r = 1; r < n; r++) {
      const v = valueOf(r, i, seed);
      acc = op === 'max' ? Math.max(acc, v) : op === 'min' ? Math.min(acc, v) : acc + v;
    }
    out[i] = op === 'avg' ? acc / n : acc;
  }
  return out;
}

function firstDiff(a: ReducibleArray | CollectiveArray, b: ReducibleArray | CollectiveArray): string | undefined {
  if (a.length !== b.length) return `length ${String(a.length)} != ${String(b.length)}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `at ${String(i)}: ${String(a[i])} != ${String(b[i])}`;
  return undefined;
}

async function correctness(): Promise<void> {
  const r = getRank();
  const n = getWorldSize();
  const failures: string[] = [];
  let checks = 0;
  const sizes = [0, 1, 7, 1000, 16411, 300007];
  let seed = 0;
  for (const dtype of Object.keys(CTORS)) {
    const ctor = CTORS[dtype];
    for (const op of ['sum', 'avg', 'max', 'min'] as ReduceOp[]) {
      for (const len of sizes) {
        seed++;
        const buf = new ctor(len);
        for (let i = 0; i < len; i++) buf[i] = valueOf(r, i, seed);
        const res = await allReduce(buf, op);
        if (res !== buf) failures.push(`allReduce ${dtype} ${op} ${String(len)}: did not return its buffer`);
        const d = firstDiff(buf, reference(ctor, len, n, op, seed));
        if (d !== undefined) failures.push(`allReduce ${dtype} ${op} ${String(len)}: ${d}`);
        checks++;
      }
    }
  }
  // Non-integer floats: sums are order-dependent, so this checks that all ranks get the same bits.
  const hashes: Record<string, string> = {};
  for (const len of [5, 1000, 300007]) {
    for (const dtype of ['float32', 'float64'] as const) {
      const buf = new CTORS[dtype](len);
      let x = 12345 + r * 777;
      for (let i = 0; i < len; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        buf[i] = (x / 2147483648 - 0.5) * 1e3 + 1e-3 * i;
      }
      await allReduce(buf, 'avg');
      hashes[`${dtype}-${String(len)}`] = hash(buf);
    }
  }
  // broadcast from every root, small and chained sizes, every dtype
  for (const dtype of ['float32', 'float64', 'int32', 'uint8'] as const) {
    for (const len of [0, 5, 200003]) {
      for (let src = 0; src < n; src++) {
        seed++;
        const C = dtype === 'uint8' ? Uint8Array : CTORS[dtype];
        const buf = new C(len);
        const want = new C(len);
        for (let i = 0; i < len; i++) {
          want[i] = dtype === 'uint8' ? (i * 31 + seed) & 255 : valueOf(src, i, seed);
          buf[i] = r === src ? want[i] : 0;
        }
        await broadcast(buf, src);
        const d = firstDiff(buf, want);
        if (d !== undefined) failures.push(`broadcast ${dtype} ${String(len)} src ${String(src)}: ${d}`);
        checks++;
      }
    }
  }
  // allGather
  for (const dtype of ['float32', 'int32', 'uint8'] as const) {
    for (const len of [0, 3, 100001]) {
      seed++;
      const C = dtype === 'uint8' ? Uint8Array : CTORS[dtype];
      const v = (rank: number, i: number): number => (dtype === 'uint8' ? (rank * 13 + i + seed) & 255 : valueOf(rank, i, seed));
      const input = new C(len);
      for (let i = 0; i < len; i++) input[i] = v(r, i);
      const out = await allGather(input);
      const want = new C(len * n);
      for (let p = 0; p < n; p++) for (let i = 0; i < len; i++) want[p * len + i] = v(p, i);
      const d = firstDiff(out, want);
      if (d !== undefined) failures.push(`allGather ${dtype} ${String(len)}: ${d}`);
      checks++;
    }
  }
  // reduceScatter
  for (const dtype of Object.keys(CTORS)) {
    for (const op of ['sum', 'avg', 'max'] as ReduceOp[]) {
      for (const len of [0, 1, 10, 100003]) {
        seed++;
        const input = new CTORS[dtype](len);
        for (let i = 0; i < len; i++) input[i] = valueOf(r, i, seed);
        const before = hash(input);
        const part = await reduceScatter(input, op);
        const [start, plen] = partRange(len, n, r);
        const d = firstDiff(part, reference(CTORS[dtype], len, n, op, seed).slice(start, start + plen));
        if (d !== undefined) failures.push(`reduceScatter ${dtype} ${op} ${String(len)}: ${d}`);
        if (hash(input) !== before) failures.push(`reduceScatter ${dtype} ${op} ${String(len)}: changed its input`);
        checks++;
      }
    }
  }
  for (let i = 0; i < 5; i++) await barrier();
  const obj = await broadcastObject(r === n - 1 ? { from: r, list: [1, 2, 3], text: 'héllo' } : null, n - 1);
  if (JSON.stringify(obj) !== JSON.stringify({ from: n - 1, list: [1, 2, 3], text: 'héllo' })) failures.push(`broadcastObject: got ${JSON.stringify(obj)}`);
  // Many calls issued without awaiting: they must run in call order.
  const pending: Promise<Float32Array>[] = [];
  for (let k = 0; k < 20; k++) pending.push(allReduce(new Float32Array([k + r]), 'sum'));
  const got = (await Promise.all(pending)).map((a) => a[0]);
  const wantSeq = Array.from({ length: 20 }, (_v, k) => k * n + (n * (n - 1)) / 2);
  if (JSON.stringify(got) !== JSON.stringify(wantSeq)) failures.push(`queued allReduce: ${JSON.stringify(got)} != ${JSON.stringify(wantSeq)}`);
  checks += 3;
  // Large calls queued back to back (shared memory takes two sequence numbers per call) with a small one between.
  const big = [0, 1, 2].map((k) => {
    const a = new Int32Array(300007);
    for (let i = 0; i < a.length; i++) a[i] = valueOf(r, i, 1000 + k);
    return a;
  });
  const queued = [allReduce(big[0], 'sum'), allReduce(new Int32Array([r]), 'sum'), allReduce(big[1], 'max'), allReduce(big[2], 'min')];
  const [, small] = await Promise.all(queued);
  if (small[0] !== (n * (n - 1)) / 2) failures.push(`queued small allReduce between large ones: ${String(small[0])}`);
  (['sum', 'max', 'min'] as ReduceOp[]).forEach((op, k) => {
    const d = firstDiff(big[k], reference(Int32Array, 300007, n, op, 1000 + k));
    if (d !== undefined) failures.push(`queued large allReduce ${op}: ${d}`);
  });
  checks += 4;
  emit({ type: 'correctness', checks, failures, hashes, main: isMainProcess(), shm: getProcessGroup().usesSharedMemory });
}

async function killTarget(): Promise<void> {
  const n = getWorldSize();
  const buf = new Float32Array((64 << 20) / 4).fill(1);
  emit({ type: 'ready', shm: getProcessGroup().usesSharedMemory });
  for (let it = 0; ; it++) {
    emit({ type: 'iteration', it });
    const t0 = Date.now();
    try {
      await allReduce(buf, 'avg');
    } catch (err) {
      emit({ type: 'error', it, elapsedInCall: Date.now() - t0, ...describe(err) });
      // A broken group rejects every later call at once, too.
      const t1 = Date.now();
      try {
        await allReduce(new Float32Array(4));
        emit({ type: 'later', ok: true });
      } catch (err2) {
        emit({ type: 'later', ok: false, ms: Date.now() - t1, ...describe(err2) });
      }
      return;
    }
    if (buf[0] !== 1 || buf[buf.length - 1] !== 1) emit({ type: 'bad', value: buf[0], n });
  }
}

async function mismatch(kind: string): Promise<void> {
  const r = getRank();
  try {
    if (kind === 'size') await allReduce(new Float32Array(r === 0 ? 10 : 11));
    else if (kind === 'dtype') await allReduce(r === 0 ? new Float32Array(16) : new Float64Array(16));
    else if (kind === 'op') {
      if (r === 0) await barrier();
      else await allReduce(new Float32Array(8));
    } else if (kind === 'root') {
      // A broadcast root hears from no one, so it can finish before the mismatch is seen; the abort
      // from the rank that saw it then fails its next call.
      if (r === 0) await barrier();
      else {
        await broadcast(new Float32Array(8), 1);
        await barrier();
      }
    } else if (kind === 'large') await allReduce(new Float32Array(r === 0 ? 1 << 20 : (1 << 20) + 8), r === 0 ? 'sum' : 'sum');
    emit({ type: 'result', ok: true });
  } catch (err) {
    emit({ type: 'result', ok: false, ...describe(err) });
  }
}

async function timeoutScenario(): Promise<void> {
  const r = getRank();
  const n = getWorldSize();
  if (r === n - 1) {
    emit({ type: 'sleeping' });
    await new Promise((res) => setTimeout(res, 4000));
    try {
      await allReduce(new Float32Array(16));
      emit({ type: 'result', ok: true });
    } catch (err) {
      emit({ type: 'result', ok: false, ...describe(err) });
    }
    return;
  }
  const t0 = Date.now();
  try {
    await allReduce(new Float32Array(16), 'sum', { timeoutMs: 1500 });
    emit({ type: 'result', ok: true });
  } catch (err) {
    emit({ type: 'result', ok: false, ms: Date.now() - t0, ...describe(err) });
  }
}

async function waitLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

async function tokenScenario(): Promise<void> {
  emit({ type: 'ready' });
  await waitLine();
  const buf = new Float64Array([getRank() + 1, 2]);
  try {
    await allReduce(buf, 'sum', { timeoutMs: 10_000 });
    emit({ type: 'result', ok: true, value: Array.from(buf) });
  } catch (err) {
    emit({ type: 'result', ok: false, ...describe(err) });
  }
}

async function main(): Promise<'noexit' | undefined> {
  const scenario = process.argv[2] ?? 'correctness';
  const opts = JSON.parse(process.env.EH_TEST_GROUP_OPTS ?? '{}') as Record<string, number>;
  const t0 = Date.now();
  const info = await setupDistributedEnvironment({ backend: 'auto', timeoutMs: 30_000, ...opts });
  emit({ type: 'setup', ms: Date.now() - t0, rank: info.rank, worldSize: info.worldSize });
  if (scenario === 'correctness') await correctness();
  else if (scenario === 'kill') await killTarget();
  else if (scenario.startsWith('mismatch-')) await mismatch(scenario.slice('mismatch-'.length));
  else if (scenario === 'timeout') await timeoutScenario();
  else if (scenario === 'token') await tokenScenario();
  else if (scenario === 'many-windows') {
    // 40 000 float32 in windows of one element would need 120 000 phase messages numbered in a 16-bit field.
    const n = getWorldSize();
    const buf = new Float32Array(40_000).map((_v, i) => (i % 97) + getRank());
    await allReduce(buf, 'sum');
    const bad = buf.findIndex((v, i) => v !== n * (i % 97) + (n * (n - 1)) / 2);
    emit({ type: 'many-windows', bad, shm: getProcessGroup().usesSharedMemory });
  }
  else if (scenario === 'noclean') {
    // Return without cleanupDistributed() or process.exit(): the process must still end.
    await allReduce(new Float32Array([1]));
    emit({ type: 'finished' });
    return 'noexit';
  }
  else throw new Error(`unknown scenario ${scenario}`);
  if (scenario === 'correctness') await getProcessGroup().barrier();
  await cleanupDistributed();
  emit({ type: 'done' });
  return undefined;
}

main().then(
  (how) => {
    if (how !== 'noexit') process.exit(0);
  },
  (err: unknown) => {
    emit({ type: 'fatal', ...describe(err) });
    process.exit(1);
  },
);
