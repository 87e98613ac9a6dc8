import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { launchWorkers, type WorkerGroup, type WorkerMessage } from './launch-helper.js';
import { encodeHello } from '../../src/collective/auth.js';
import {
  setupDistributedEnvironment,
  cleanupDistributed,
  getRank,
  getWorldSize,
  isMainProcess,
  isInitialized,
  allReduce,
  allGather,
  reduceScatter,
  broadcast,
  barrier,
  broadcastObject,
  getWorldInfo,
} from '../../src/collective/index.js';
import { DistributedSetupError } from '../../src/errors/index.js';

const WORKER = 'test/collective/worker.ts';
const groups: WorkerGroup[] = [];
after(async () => {
  for (const g of groups) await g.close();
});

async function launch(...args: Parameters<typeof launchWorkers>): Promise<WorkerGroup> {
  const g = await launchWorkers(...args);
  groups.push(g);
  return g;
}

function byType(g: WorkerGroup, type: string): WorkerMessage[] {
  return g.messages.filter((m) => m.type === type).sort((a, b) => a.rank - b.rank);
}

async function correctness(n: number, shm: boolean, extraEnv: Record<string, string>, rankEnv?: (r: number) => Record<string, string>): Promise<void> {
  const g = await launch({ n, script: WORKER, args: ['correctness'], env: { EH_TEST_GROUP_OPTS: JSON.stringify({ chunkBytes: 64 << 10 }), ...extraEnv }, rankEnv });
  const exits = await g.waitExit(150_000);
  const results = byType(g, 'correctness');
  assert.equal(results.length, n, `every rank reports: ${JSON.stringify(g.messages)} ${exits.map((e) => e.stderr).join('\n')}`);
  for (const r of results) {
    assert.deepEqual(r.failures, [], `rank ${String(r.rank)} failures`);
    assert.ok((r.checks as number) > 100);
    assert.equal(r.main, r.rank === 0);
    assert.equal(r.shm, shm, `rank ${String(r.rank)} ${shm ? 'should' : 'should not'} use shared memory`);
  }
  // Non-integer averages: order-dependent sums, yet every rank holds the same bits.
  for (const r of results.slice(1)) assert.deepEqual(r.hashes, results[0].hashes, `rank ${String(r.rank)} differs from rank 0`);
  for (const e of exits) assert.equal(e.code, 0, `rank ${String(e.rank)} exit: ${e.stderr}`);
}

describe('collective: correctness on real processes', { concurrency: 1 }, () => {
  it('2 ranks on one host (shared memory): every op, dtype and odd size; broadcast, allGather, reduceScatter, barrier, broadcastObject', async () => {
    await correctness(2, true, {});
  });

  it('3 ranks on one host, shared memory in windows of 100 003 bytes (large calls take many windows)', async () => {
    await correctness(3, true, { EH_TEST_GROUP_OPTS: JSON.stringify({ sharedMemoryWindowBytes: 100_003 }) });
  });

  it('2 ranks over Unix sockets only (EH_COLLECTIVE_SHM=0)', async () => {
    await correctness(2, false, { EH_COLLECTIVE_SHM: '0' });
  });

  it('3 ranks over TCP (distinct host ids)', async () => {
    await correctness(3, false, { EH_COLLECTIVE_ADDR: '127.0.0.1' }, (r) => ({ EH_HOST_ID: `host-${String(r)}` }));
  });

  it('3 ranks on one host, one of them without shared memory: all agree on sockets', async () => {
    await correctness(3, false, {}, (r): Record<string, string> => (r === 1 ? { EH_COLLECTIVE_SHM: '0' } : {}));
  });

  it('4 ranks on one host, default settings', async () => {
    await correctness(4, true, { EH_TEST_GROUP_OPTS: '{}' });
  });
});

describe('collective: single process and environment', () => {
  it('works as a world of one without any launcher variables', async () => {
    assert.equal(getRank(), 0);
    assert.equal(getWorldSize(), 1);
    assert.equal(isMainProcess(), true);
    assert.equal(isInitialized(), false);
    const info = await setupDistributedEnvironment({ env: {} });
    try {
      assert.equal(info.rank, 0);
      assert.equal(info.worldSize, 1);
      assert.equal(isInitialized(), true);
      const a = new Float32Array([1.5, -2]);
      assert.equal(await allReduce(a, 'avg'), a);
      assert.deepEqual(Array.from(a), [1.5, -2]);
      assert.deepEqual(Array.from(await allGather(new Int32Array([3, 4]))), [3, 4]);
      assert.deepEqual(Array.from(await reduceScatter(new Float64Array([1, 2, 3]), 'sum')), [1, 2, 3]);
      assert.deepEqual(Array.from(await broadcast(new Uint8Array([9]), 0)), [9]);
      await barrier();
      assert.deepEqual(await broadcastObject({ a: [1] }), { a: [1] });
    } finally {
      await cleanupDistributed();
    }
    assert.equal(isInitialized(), false);
  });

  it('reports every missing variable at once', () => {
    assert.throws(
      () => getWorldInfo({ RANK: '1', WORLD_SIZE: '2' }),
      (err: unknown) => err instanceof DistributedSetupError && ['LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'].every((v) => err.missingVars.includes(v) && err.message.includes(v)),
    );
    assert.throws(() => getWorldInfo({ RANK: '3', WORLD_SIZE: '2', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1', MASTER_ADDR: 'x', MASTER_PORT: '1' }), /RANK=3 is not below WORLD_SIZE=2/);
  });

  it('a multi-rank world without store or token is refused with the missing variables', async () => {
    await assert.rejects(
      setupDistributedEnvironment({ env: { RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' } }),
      (err: unknown) => err instanceof DistributedSetupError && err.missingVars.includes('EH_STORE_ENDPOINT') && err.missingVars.includes('EH_TOKEN'),
    );
    assert.equal(isInitialized(), false);
  });
});

describe('collective: failures never hang', { concurrency: 1 }, () => {
  for (const shm of [true, false]) it(`SIGKILL of one rank during a 64 MiB allreduce (${shm ? 'shared memory' : 'Unix sockets'}) makes the others reject at once, naming it`, async (t) => {
    const n = 3;
    const timeoutMs = 30_000;
    const g = await launch({ n, script: WORKER, args: ['kill'], env: { EH_TEST_GROUP_OPTS: JSON.stringify({ timeoutMs }), ...(shm ? {} : { EH_COLLECTIVE_SHM: '0' }) } });
    // Let every rank run a few full 64 MiB allreduces first; then kill rank 1 while they loop.
    for (let r = 0; r < n; r++) await g.waitFor((m) => m.type === 'iteration' && m.rank === r && (m.it as number) >= 2, 90_000, `rank ${String(r)} iteration 2`);
    const ready = byType(g, 'ready');
    assert.equal(ready.length, n);
    for (const m of ready) assert.equal(m.shm, shm, `rank ${String(m.rank)} shared memory`);
    const killedAt = Date.now();
    g.procs[1].kill('SIGKILL');
    const errs = await Promise.all([0, 2].map((r) => g.waitFor((m) => m.type === 'error' && m.rank === r, timeoutMs + 10_000, `rank ${String(r)} error`)));
    for (const e of errs) {
      assert.equal(e.name, 'PeerLostError', JSON.stringify(e));
      assert.equal(e.lostRank, 1);
      assert.match(e.message as string, /rank 1/);
      const latency = (e.at as number) - killedAt;
      t.diagnostic(`rank ${String(e.rank)} rejected ${String(latency)} ms after the SIGKILL (timeout ${String(timeoutMs)} ms): ${(e.message as string).split('\n')[0]}`);
      // "At once": far below the 30 s timeout (generous margin for a loaded 2-core machine).
      assert.ok(latency < 5000, `rank ${String(e.rank)} took ${String(latency)} ms to notice`);
    }
    const later = await Promise.all([0, 2].map((r) => g.waitFor((m) => m.type === 'later' && m.rank === r, 10_000, 'later call')));
    for (const l of later) {
      assert.equal(l.ok, false);
      assert.equal(l.name, 'PeerLostError');
      assert.ok((l.ms as number) < 1000);
    }
    const exits = await g.waitExit(20_000);
    assert.equal(exits[1].signal, 'SIGKILL');
    assert.equal(exits[0].code, 0);
    assert.equal(exits[2].code, 0);
    // Segments are unlinked as soon as every rank maps them: the killed rank left none behind.
    const left = readdirSync('/dev/shm').filter((f) => g.procs.some((p) => f.startsWith(`eh-shm-${String(p.pid)}-`)));
    assert.deepEqual(left, []);
  });

  it('a rank that never calls makes the others time out naming it; the late rank then fails at once', async () => {
    const g = await launch({ n: 3, script: WORKER, args: ['timeout'] });
    const res = await Promise.all([0, 1, 2].map((r) => g.waitFor((m) => m.type === 'result' && m.rank === r, 30_000, `rank ${String(r)} result`)));
    for (const r of res.slice(0, 2)) {
      assert.equal(r.ok, false);
      assert.equal(r.name, 'CollectiveTimeoutError', JSON.stringify(r));
      assert.deepEqual(r.waitingFor, [2]);
      assert.match(r.message as string, /allReduce\(sum, float32, 16 elements\) call #0 timed out after 1500 ms/);
      assert.ok((r.ms as number) >= 1400 && (r.ms as number) < 6000, `took ${String(r.ms)} ms`);
    }
    assert.equal(res[2].ok, false);
    assert.equal(res[2].isCollective, true);
    await g.waitExit(20_000);
  });

  for (const kind of ['size', 'dtype', 'op', 'root', 'large']) {
    it(`mismatched calls (${kind}) are reported on every rank`, async () => {
      const g = await launch({ n: 2, script: WORKER, args: [`mismatch-${kind}`], env: { EH_TEST_GROUP_OPTS: JSON.stringify({ timeoutMs: 20_000 }) } });
      const res = await Promise.all([0, 1].map((r) => g.waitFor((m) => m.type === 'result' && m.rank === r, 30_000, `rank ${String(r)} result`)));
      for (const r of res) {
        assert.equal(r.ok, false);
        assert.equal(r.name, 'CollectiveMismatchError', JSON.stringify(r));
        assert.match(r.message as string, /mismatched collective calls: rank \d is in .* but rank \d is in /);
      }
      await g.waitExit(20_000);
    });
  }
});

describe('collective: process lifetime', () => {
  it('a worker that never calls cleanupDistributed() still exits when its work is done', async () => {
    const g = await launch({ n: 2, script: WORKER, args: ['noclean'] });
    const exits = await g.waitExit(30_000);
    for (const e of exits) assert.equal(e.code, 0, e.stderr);
    assert.equal(byType(g, 'finished').length, 2);
  });
});

describe('collective: authentication', () => {
  it('refuses connections without the job token, and the group keeps working', async () => {
    const g = await launch({ n: 2, script: WORKER, args: ['token'] });
    await Promise.all([0, 1].map((r) => g.waitFor((m) => m.type === 'ready' && m.rank === r, 30_000, 'ready')));
    const raw = await g.server.store.get(`${g.prefix}collective/0/addr/0`);
    assert.ok(raw !== undefined, 'rank 0 published its address');
    const addr = JSON.parse(raw) as { host: string; port: number; unixPath: string };
    const tryConnect = (where: net.NetConnectOpts, payload: Buffer): Promise<{ closed: boolean; got: number }> =>
      new Promise((resolve) => {
        let got = 0;
        const s = net.connect(where, () => s.write(payload));
        const t = setTimeout(() => {
          s.destroy();
          resolve({ closed: false, got });
        }, 5000);
        s.on('data', (d: Buffer) => (got += d.length));
        s.on('error', () => undefined);
        s.on('close', () => {
          clearTimeout(t);
          resolve({ closed: true, got });
        });
      });
    // garbage over the Unix socket, a well-formed hello under the wrong token over TCP, and a
    // hello replaying the right token for another group (round)
    const attempts = [
      await tryConnect({ path: addr.unixPath }, Buffer.alloc(64, 7)),
      await tryConnect({ host: '127.0.0.1', port: addr.port }, encodeHello('not-the-token', `${g.prefix}|collective-test|0`, 1, 2)),
      await tryConnect({ host: '127.0.0.1', port: addr.port }, encodeHello(g.token, 'another-round|collective-test|0', 1, 2)),
    ];
    for (const a of attempts) {
      assert.equal(a.closed, true, 'the connection is closed by the rank');
      assert.equal(a.got, 0, 'nothing is sent to an unauthenticated peer');
    }
    for (const r of [0, 1]) g.send(r, 'go');
    const res = await Promise.all([0, 1].map((r) => g.waitFor((m) => m.type === 'result' && m.rank === r, 30_000, 'result')));
    for (const r of res) assert.deepEqual(r.value, [3, 4], JSON.stringify(r));
    await g.waitExit(20_000);
  });
});
