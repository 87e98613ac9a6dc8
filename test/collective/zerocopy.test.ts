import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { launchWorkers, type WorkerGroup, type WorkerMessage } from './launch-helper.js';

const WORKER = 'test/collective/fast-worker.ts';
const groups: WorkerGroup[] = [];
after(async () => {
  for (const g of groups) await g.close();
});

async function launch(n: number, args: string[], rankEnv?: (rank: number) => Record<string, string>): Promise<WorkerGroup> {
  const g = await launchWorkers({ n, script: WORKER, args, ...(rankEnv !== undefined ? { rankEnv } : {}) });
  groups.push(g);
  return g;
}

function byType(g: WorkerGroup, type: string): WorkerMessage[] {
  return g.messages.filter((m) => m.type === type).sort((a, b) => a.rank - b.rank);
}

/** Files in /dev/shm that belong to any of `pids` (segments and allocations are named by their owner's pid). */
function segmentsOf(pids: number[]): string[] {
  return readdirSync('/dev/shm').filter((f) => pids.some((p) => f.startsWith(`eh-shm-${String(p)}-`)));
}

describe('zero-copy allReduce (allocateShared)', () => {
  for (const n of [2, 3, 4]) {
    it(`${String(n)} ranks: every dtype and op exact, random data bit-identical to the copy path, back-to-back calls, a view`, async () => {
      const g = await launch(n, ['zerocopy', '50001']);
      const exits = await g.waitExit(60_000);
      const reports = byType(g, 'zerocopy');
      assert.equal(reports.length, n, JSON.stringify(exits.map((e) => e.stderr)));
      for (const r of reports) {
        assert.deepEqual(r.failures, [], `rank ${String(r.rank)}`);
        assert.equal(r.shared, 3, 'allocateShared gave shared memory for every dtype');
        assert.equal(r.sharedViews, true);
        assert.equal(r.usesSharedMemory, true);
        assert.equal(r.path, 'native');
      }
      const hashes = byType(g, 'hash');
      assert.equal(hashes.length, n * 12);
      for (const h of hashes) assert.equal(h.hash, hashes.find((x) => x.dtype === h.dtype && x.op === h.op && x.rank === 0)?.hash, `${String(h.dtype)} ${String(h.op)} on rank ${String(h.rank)}`);
      assert.deepEqual(exits.map((e) => e.code), new Array<number>(n).fill(0));
      assert.deepEqual(segmentsOf(byType(g, 'setup').map((m) => m.pid as number)), [], 'nothing left in /dev/shm');
    });
  }

  it('DataParallel flattens its gradients into shared memory: bit-identical weights on both ranks, and the same bits as over the sockets', async () => {
    const run = async (env: Record<string, string>): Promise<WorkerMessage[]> => {
      const g = await launchWorkers({ n: 2, script: 'test/collective/dp-worker.ts', env });
      groups.push(g);
      await g.waitExit(60_000);
      const out = byType(g, 'trained');
      assert.equal(out.length, 2, JSON.stringify(g.messages) + JSON.stringify(g.exits.map((e) => e?.stderr)));
      return out;
    };
    const shared = await run({});
    const sockets = await run({ EH_COLLECTIVE_SHM: '0' });
    assert.deepEqual(shared.map((m) => m.sharedGradients), [true, true]);
    assert.deepEqual(sockets.map((m) => [m.sharedGradients, m.usesSharedMemory]), [[false, false], [false, false]]);
    assert.deepEqual(shared[0].hashes, shared[1].hashes);
    assert.deepEqual(sockets[0].hashes, sockets[1].hashes);
    // Two ranks add in the same order on either path (own value, then the peer's), so the weights match bit for bit.
    assert.deepEqual(shared[0].hashes, sockets[0].hashes);
    assert.notEqual((shared[0].hashes as string[])[0], (shared[0].hashes as string[])[2], 'the weights moved');
  });

  it('a rank without the add-on (EH_NATIVE=0) joins ranks that have it: sockets for all, and every result agrees bit for bit', async () => {
    const g = await launch(3, ['agree'], (rank): Record<string, string> => (rank === 1 ? { EH_NATIVE: '0' } : {}));
    await g.waitExit(60_000);
    const reports = byType(g, 'agree');
    assert.equal(reports.length, 3, JSON.stringify(g.exits.map((e) => e?.stderr)));
    assert.deepEqual(reports.map((r) => r.path), ['native', 'javascript', 'native']);
    for (const r of reports) {
      assert.deepEqual(r.failures, []);
      assert.equal(r.usesSharedMemory, false, 'one rank cannot map segments, so none uses them');
      assert.deepEqual(r.hashes, reports[0].hashes, `rank ${String(r.rank)} agrees with rank 0`);
    }
  });

  it('one rank passing a shared array and another an ordinary one is a mismatch on both, saying so', async () => {
    const g = await launch(2, ['mixed-kinds', '100000']);
    await g.waitExit(30_000);
    const out = byType(g, 'mixed');
    assert.equal(out.length, 2, JSON.stringify(g.exits.map((e) => e?.stderr)));
    for (const m of out) {
      assert.equal(m.ok, false);
      assert.equal(m.name, 'CollectiveMismatchError');
      assert.match(String(m.message), /allocateShared/);
    }
  });

  it('SIGKILL of a rank in the middle of zero-copy allReduce calls: the others get PeerLostError naming it, nothing is left in /dev/shm', async () => {
    const g = await launch(3, ['loop', String(4 << 20)]);
    const ready = await Promise.all([0, 1, 2].map((r) => g.waitFor((m) => m.type === 'ready' && m.rank === r, 30_000, `rank ${String(r)} ready`)));
    for (const m of ready) assert.equal(m.shared, true);
    const pids = ready.map((m) => m.pid as number);
    // Allocations are unlinked as soon as every rank mapped them: none exists while the ranks run.
    assert.deepEqual(segmentsOf(pids), []);
    await g.waitFor((m) => m.type === 'looping' && m.rank === 2, 30_000, 'rank 2 looping');
    g.procs[2].kill('SIGKILL');
    const lost = await Promise.all([0, 1].map((r) => g.waitFor((m) => m.type === 'lost' && m.rank === r, 30_000, `rank ${String(r)} lost`)));
    for (const m of lost) {
      assert.equal(m.name, 'PeerLostError', String(m.message));
      assert.equal(m.lostRank, 2);
      assert.match(String(m.message), /rank 2/);
      assert.ok((m.calls as number) >= 3);
    }
    const exits = await g.waitExit(30_000);
    assert.equal(exits[2].signal, 'SIGKILL');
    assert.deepEqual(segmentsOf(pids), [], 'no segment or allocation left in /dev/shm');
  });
});
