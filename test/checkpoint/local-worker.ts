/**
 * The worker of the local-checkpoint end-to-end tests, run by `eh run`: one rank with a LocalCheckpointManager.
 * Each rank's state is a pure function of (rank, iteration), so a load is checked byte for byte against it.
 *
 * Env: LCK_ROOT (root directory), LCK_EVENTS (JSON lines out), LCK_MODE (save | load | skip | loop),
 * LCK_FACTOR / LCK_JUMP (replication; factor 0: none), LCK_ITERS (save: iterations, comma-separated),
 * LCK_TIMEOUT_MS, LCK_SKIP_RANK (skip: the rank that does not call), LCK_ASYNC (1: save via AsyncCallsQueue),
 * LCK_FLOATS (elements per tensor).
 */
import { appendFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupDistributed, setupDistributedEnvironment } from '../../src/collective/index.js';
import { AsyncCallsQueue, BasicTensorAwareStateDict, CliqueReplicationStrategy, LocalCheckpointManager, type StateDict } from '../../src/checkpoint/index.js';
import { describeError } from '../../src/errors/index.js';

const env = (k: string, d?: string): string => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const ROOT = env('LCK_ROOT');
const EVENTS = env('LCK_EVENTS');
const MODE = env('LCK_MODE');
const FACTOR = Number(env('LCK_FACTOR', '2'));
const JUMP = Number(env('LCK_JUMP', '1'));
const TIMEOUT_MS = Number(env('LCK_TIMEOUT_MS', '20000'));
const FLOATS = Number(env('LCK_FLOATS', '4096'));
const restart = Number(process.env.TORCHELASTIC_RESTART_COUNT ?? '0');

function emit(event: Record<string, unknown>): void {
  appendFileSync(EVENTS, `${JSON.stringify({ ...event, restart, pid: process.pid, at: Date.now() })}\n`);
}

/** The state rank `rank` saves at `iteration`: nested objects and arrays, typed arrays, tensors and JSON. */
export function stateOf(rank: number, iteration: number): StateDict {
  const w = new Float32Array(FLOATS);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(rank * 1000 + iteration * 7 + i) * 1e3;
  const m = new Float64Array(FLOATS / 4).map((_, i) => rank - iteration / (i + 1));
  const ids = new BigInt64Array([BigInt(rank), BigInt(iteration), -1n]);
  return { model: { w: { dtype: 'F32', shape: [FLOATS / 64, 64], data: w } }, optimizer: [{ m }, { ids }], step: iteration, name: `rank-${rank}`, lr: Infinity };
}

const bytes = (v: ArrayBufferView): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Whether two states are equal, every tensor byte for byte. */
function sameState(a: unknown, b: unknown): boolean {
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) return ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && a.constructor === b.constructor && bytes(a).equals(bytes(b));
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return Object.is(a, b);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => sameState((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const world = await setupDistributedEnvironment({ timeoutMs: TIMEOUT_MS });
const rank = world.rank;
const replStrategy = FACTOR > 0 ? new CliqueReplicationStrategy({ replicationFactor: FACTOR, replicationJump: JUMP }) : undefined;
const manager = new LocalCheckpointManager(ROOT, { replStrategy, timeoutMs: TIMEOUT_MS });

async function loadAndCheck(): Promise<{ latest: number; equal?: boolean }> {
  const latest = await manager.findLatest();
  if (latest === -1) return { latest };
  const { stateDict, partId } = await manager.load();
  return { latest, equal: partId.iteration === latest && partId.rank === rank && sameState(stateDict.stateDict, stateOf(rank, latest)) };
}

try {
  if (MODE === 'save') {
    const queue = process.env.LCK_ASYNC === '1' ? new AsyncCallsQueue() : undefined;
    for (const it of env('LCK_ITERS').split(',').map(Number)) {
      const ta = new BasicTensorAwareStateDict(stateOf(rank, it));
      if (queue !== undefined) {
        queue.scheduleAsyncRequest(await manager.save(ta, it, { isAsync: true }));
        await queue.maybeFinalizeAsyncCalls({ blocking: true });
      } else await manager.save(ta, it);
      emit({ t: 'saved', rank, iteration: it });
    }
    await queue?.close();
  } else if (MODE === 'load') {
    emit({ t: 'loaded', rank, ...(await loadAndCheck()), incomplete: manager.lastFindLatest?.incomplete });
  } else if (MODE === 'skip') {
    if (rank === Number(env('LCK_SKIP_RANK'))) {
      await sleep(TIMEOUT_MS * 3);
    } else {
      const t0 = Date.now();
      await manager.findLatest().then(
        (latest) => emit({ t: 'skip', rank, latest }),
        (err: unknown) => emit({ t: 'skip', rank, error: describeError(err), name: (err as Error).name, waitingFor: (err as { waitingFor?: number[] }).waitingFor, ms: Date.now() - t0 }),
      );
    }
  } else if (MODE === 'loop') {
    // The kill test: check what loads, then save back to back until killed.
    let files = 0;
    try {
      files = readdirSync(path.join(ROOT, `rank_${rank}`)).length;
    } catch {
      // a fresh root: nothing held yet
    }
    const got = await loadAndCheck().catch((err: unknown) => ({ latest: -2, error: describeError(err) }));
    emit({ t: 'start', rank, files, ...got });
    for (let it = Math.max(got.latest, 0) + 1; ; it++) {
      emit({ t: 'saving', rank, iteration: it });
      await manager.save(new BasicTensorAwareStateDict(stateOf(rank, it)), it);
      emit({ t: 'saved', rank, iteration: it });
    }
  } else throw new Error(`unknown LCK_MODE ${MODE}`);
} catch (err) {
  emit({ t: 'error', rank, error: describeError(err), name: (err as Error).name });
}
await cleanupDistributed();
process.exit(0);
