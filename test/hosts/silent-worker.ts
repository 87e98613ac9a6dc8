/**
 * A rank for the silent-peer test (started by launch-helper.ts in a network namespace): set up the
 * group, allreduce once and say "ready", give the test a moment to cut a link, then allreduce again and
 * report how that call ended ("@@{json}" lines).
 */
import { setupDistributedEnvironment, allReduce, PeerLostError, CollectiveError } from '../../src/collective/index.js';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`@@${JSON.stringify({ ...obj, at: Date.now() })}\n`);
}

await setupDistributedEnvironment({ timeoutMs: 60_000 });
await allReduce(new Float64Array([1]), 'sum');
emit({ type: 'ready' });
await new Promise((r) => setTimeout(r, Number(process.env.PAUSE_MS ?? 1000)));
const started = Date.now();
try {
  await allReduce(new Float64Array(1 << 16).fill(1), 'sum');
  emit({ type: 'completed', ms: Date.now() - started });
} catch (err) {
  emit({
    type: 'failed',
    ms: Date.now() - started,
    name: err instanceof Error ? err.name : typeof err,
    peerLost: err instanceof PeerLostError,
    collective: err instanceof CollectiveError,
    lostRank: err instanceof PeerLostError ? err.lostRank : undefined,
    message: err instanceof Error ? err.message : String(err),
  });
}
process.exit(0);
