/**
 * A rank for exchange.test.ts: scenario `ring` sends a rank-seeded buffer to the next rank only
 * (three times, sizes differing, the last one large) and reports what arrived; scenario `silent`
 * has rank 2 never call exchange(), so rank 0, which waits on it, must time out naming it.
 */
import { createHash } from 'node:crypto';
import { CollectiveTimeoutError, cleanupDistributed, getProcessGroup, setupDistributedEnvironment } from '../../src/collective/index.js';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`@@${JSON.stringify({ ...obj, at: Date.now() })}\n`);
}

/** Deterministic bytes of `len` seeded by (rank, round), so that a receiver can check what arrived. */
export function pattern(rank: number, round: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + rank * 7 + round * 13) & 0xff;
  return b;
}

const SIZES = [5, 70_000, 9 << 20];
const scenario = process.argv[2];
const info = await setupDistributedEnvironment({ backend: 'auto', timeoutMs: 20_000, chunkBytes: 64 << 10 });
const g = getProcessGroup();
const { rank, worldSize } = info;
const next = (rank + 1) % worldSize;
const prev = (rank + worldSize - 1) % worldSize;
if (scenario === 'ring') {
  const digests: string[] = [];
  for (let round = 0; round < SIZES.length; round++) {
    // The receiver's size differs per source rank too: rank r sends SIZES[round] + r bytes.
    const recv = new Uint8Array(SIZES[round] + prev);
    await g.exchange({ buf: pattern(rank, round, SIZES[round] + rank), peers: [next] }, [{ src: prev, buf: recv }]);
    const want = pattern(prev, round, SIZES[round] + prev);
    digests.push(createHash('sha256').update(recv).digest('hex') === createHash('sha256').update(want).digest('hex') ? 'ok' : 'bad');
  }
  emit({ type: 'ring', rank, digests });
} else if (scenario === 'silent') {
  if (rank === 2) await new Promise((r) => setTimeout(r, 4_000));
  else {
    const t0 = Date.now();
    try {
      await g.exchange({ buf: new Uint8Array(10), peers: rank === 1 ? [0] : [] }, rank === 0 ? [{ src: 1, buf: new Uint8Array(10) }, { src: 2, buf: new Uint8Array(10) }] : [], { timeoutMs: 1_500 });
      emit({ type: 'silent', rank, error: null });
    } catch (err) {
      emit({ type: 'silent', rank, error: err instanceof CollectiveTimeoutError ? 'timeout' : String(err), waitingFor: err instanceof CollectiveTimeoutError ? err.waitingFor : [], message: String((err as Error).message), ms: Date.now() - t0 });
    }
  }
}
await cleanupDistributed().catch(() => undefined);
