import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigurationError, DistributedSetupError } from '../../src/errors/index.js';
import { MemoryStore, RendezvousHandler, TcpStore, TcpStoreServer, type RendezvousParams, type Store } from '../../src/rendezvous/index.js';

const fast = (over: Partial<RendezvousParams> = {}): RendezvousParams => ({
  runId: 'job',
  minNodes: 2,
  maxNodes: 4,
  joinTimeoutMs: 3_000,
  lastCallTimeoutMs: 300,
  closeTimeoutMs: 2_000,
  keepAliveIntervalMs: 100,
  keepAliveMaxAttempt: 3,
  ...over,
});

async function withHandlers<T>(store: Store, params: RendezvousParams[], fn: (hs: RendezvousHandler[]) => Promise<T>): Promise<T> {
  const hs = params.map((p) => new RendezvousHandler(store, p));
  try {
    return await fn(hs);
  } finally {
    await Promise.all(hs.map((h) => h.shutdown().catch(() => undefined)));
  }
}

describe('RendezvousHandler (in one process)', () => {
  it('forms one round with ranks 0..n-1 in join order, and the same view everywhere', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b', 'c'].map((id) => fast({ nodeId: id, nodeAddr: `host-${id}` })), async ([a, b, c]) => {
      const pa = a.nextRendezvous({ localWorldSize: 2 });
      await sleep(20);
      const pb = b.nextRendezvous({ localWorldSize: 2 });
      await sleep(20);
      const pc = c.nextRendezvous({ localWorldSize: 2 });
      const [ia, ib, ic] = await Promise.all([pa, pb, pc]);
      assert.deepEqual([ia.nodeRank, ib.nodeRank, ic.nodeRank], [0, 1, 2]);
      for (const i of [ia, ib, ic]) {
        assert.equal(i.round, 0);
        assert.equal(i.nodeCount, 3);
        assert.equal(i.storePrefix, 'job/round/0');
        assert.deepEqual(i.participants, [
          { nodeId: 'a', addr: 'host-a', rank: 0, localWorldSize: 2 },
          { nodeId: 'b', addr: 'host-b', rank: 1, localWorldSize: 2 },
          { nodeId: 'c', addr: 'host-c', rank: 2, localWorldSize: 2 },
        ]);
      }
      assert.equal(await a.isRoundStale(), false);
      assert.equal(await a.numNodesWaiting(), 0);
    });
    await store.close();
  });

  it('closes at once at maxNodes without waiting for the last call', async () => {
    const store = new MemoryStore();
    await withHandlers(store, [0, 1].map((i) => fast({ nodeId: `n${i}`, maxNodes: 2, lastCallTimeoutMs: 60_000 })), async (hs) => {
      const started = Date.now();
      const infos = await Promise.all(hs.map((h) => h.nextRendezvous()));
      assert.ok(Date.now() - started < 2_000);
      assert.deepEqual(infos.map((i) => i.nodeCount), [2, 2]);
    });
    await store.close();
  });

  it('many agents racing to open the same rounds agree on one round each time (compare-and-set)', async () => {
    const store = new MemoryStore();
    await withHandlers(store, Array.from({ length: 6 }, (_, i) => fast({ nodeId: `r${i}`, minNodes: 6, maxNodes: 6 })), async (hs) => {
      for (let round = 0; round < 3; round++) {
        const infos = await Promise.all(hs.map((h) => h.nextRendezvous()));
        assert.deepEqual(new Set(infos.map((i) => i.round)), new Set([round]));
        assert.deepEqual(infos.map((i) => i.nodeRank).sort(), [0, 1, 2, 3, 4, 5]);
        for (const i of infos) assert.deepEqual(i.participants, infos[0].participants);
      }
    });
    await store.close();
  });

  it('a round that never reaches min fails after joinTimeout, naming the run, min and how many joined', async () => {
    const store = new MemoryStore();
    await withHandlers(store, [fast({ runId: 'lonely-run', nodeId: 'solo', minNodes: 3, joinTimeoutMs: 400 })], async ([h]) => {
      const started = Date.now();
      await assert.rejects(h.nextRendezvous(), (err: unknown) => {
        assert.ok(err instanceof DistributedSetupError);
        assert.match(err.message, /lonely-run/);
        assert.match(err.message, /1 of the minimum 3/);
        return true;
      });
      const took = Date.now() - started;
      assert.ok(took >= 350 && took < 3_000, `took ${took} ms`);
      // It left the round, so a later attempt starts from a clean count, and it no longer looks alive
      // (a node that gave up must not count as waiting for the others).
      const state = JSON.parse((await store.get('lonely-run/rdzv/state')) ?? '{}') as { participants: unknown[] };
      assert.equal(state.participants.length, 0);
      assert.deepEqual(await store.keys('lonely-run/rdzv/alive/'), []);
      await sleep(250);
      assert.deepEqual(await store.keys('lonely-run/rdzv/alive/'), []);
    });
    await store.close();
  });

  it('a node arriving after the round closed is counted as waiting, and joins the next round', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b', 'late'].map((id) => fast({ nodeId: id })), async ([a, b, late]) => {
      await Promise.all([a.nextRendezvous(), b.nextRendezvous()]);
      const pLate = late.nextRendezvous();
      const deadline = Date.now() + 3_000;
      while ((await a.numNodesWaiting()) === 0 && Date.now() < deadline) await sleep(20);
      assert.equal(await a.numNodesWaiting(), 1);
      assert.equal(await a.isRoundStale(), false, 'a waiting node alone does not make the round stale');
      const started = Date.now();
      const infos = await Promise.all([a.nextRendezvous(), b.nextRendezvous(), pLate]);
      // Every live node joined: the round closes without sitting out the last call.
      assert.ok(Date.now() - started < 250, `took ${Date.now() - started} ms`);
      assert.deepEqual(infos.map((i) => [i.round, i.nodeCount]), [[1, 3], [1, 3], [1, 3]]);
      assert.equal(infos[2].nodeRank, 2);
    });
    await store.close();
  });

  it('a node whose keep-alive lapses makes the round stale, and the rest re-form without it', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b', 'c'].map((id) => fast({ nodeId: id })), async ([a, b, c]) => {
      await Promise.all([a.nextRendezvous(), b.nextRendezvous(), c.nextRendezvous()]);
      // Simulate c's death: its keep-alive stops (no shutdown, nothing deleted).
      (c as unknown as { keepAliveTimer: NodeJS.Timeout }).keepAliveTimer.close();
      const deadline = Date.now() + 3_000;
      while (!(await a.isRoundStale()) && Date.now() < deadline) await sleep(20);
      assert.equal(await a.isRoundStale(), true);
      assert.equal(await b.isRoundStale(), true);
      const infos = await Promise.all([a.nextRendezvous(), b.nextRendezvous()]);
      assert.deepEqual(infos.map((i) => [i.round, i.nodeCount]), [[1, 2], [1, 2]]);
      assert.deepEqual(infos[0].participants.map((p) => p.nodeId).sort(), ['a', 'b']);
    });
    await store.close();
  });

  it('hot spares beyond max are not a scale-up signal, and take a failed node\'s place', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b', 'spare'].map((id) => fast({ nodeId: id, minNodes: 2, maxNodes: 2 })), async ([a, b, spare]) => {
      const [ia] = await Promise.all([a.nextRendezvous(), b.nextRendezvous()]);
      assert.equal(ia.nodeCount, 2);
      let spareDone = false;
      const pSpare = spare.nextRendezvous().finally(() => {
        spareDone = true;
      });
      await sleep(300);
      assert.equal(spareDone, false);
      assert.equal(await a.numNodesWaiting(), 0);
      await b.shutdown(); // b leaves: its keep-alive key goes at once
      const deadline = Date.now() + 3_000;
      while (!(await a.isRoundStale()) && Date.now() < deadline) await sleep(20);
      const [ia2, is2] = await Promise.all([a.nextRendezvous(), pSpare]);
      assert.equal(ia2.round, 1);
      assert.deepEqual(is2.participants.map((p) => p.nodeId).sort(), ['a', 'spare']);
    });
    await store.close();
  });

  it('a node re-joining after a crash with the same nodeId replaces its old incarnation', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b'].map((id) => fast({ nodeId: id })), async ([a, b]) => {
      await Promise.all([a.nextRendezvous(), b.nextRendezvous()]);
      (b as unknown as { keepAliveTimer: NodeJS.Timeout }).keepAliveTimer.close(); // b "crashes"
      const b2 = new RendezvousHandler(store, fast({ nodeId: 'b' }));
      try {
        const pb2 = b2.nextRendezvous();
        const deadline = Date.now() + 3_000;
        while (!(await a.isRoundStale()) && Date.now() < deadline) await sleep(20);
        assert.equal(await a.isRoundStale(), true, 'the crashed incarnation is gone at once');
        const [ia, ib] = await Promise.all([a.nextRendezvous(), pb2]);
        assert.equal(ia.round, 1);
        assert.deepEqual(ib.participants.map((p) => p.nodeId).sort(), ['a', 'b']);
      } finally {
        await b2.shutdown();
      }
    });
    await store.close();
  });

  it('worker keys of a round two rounds back are deleted when a new round opens', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b'].map((id) => fast({ nodeId: id, maxNodes: 2 })), async (hs) => {
      for (let round = 0; round < 4; round++) {
        const infos = await Promise.all(hs.map((h) => h.nextRendezvous()));
        await store.set(`${infos[0].storePrefix}/addr/0`, 'x');
      }
      await sleep(50);
      assert.deepEqual(await store.keys('job/round/'), ['job/round/2/addr/0', 'job/round/3/addr/0']);
    });
    await store.close();
  });

  it('restart counts live in the store, per job: a new handler for the same node sees them', async () => {
    const store = new MemoryStore();
    const h1 = new RendezvousHandler(store, fast({ nodeId: 'x' }));
    assert.equal(await h1.getRestartCount(), 0);
    assert.equal(await h1.incrementRestartCount(), 1);
    assert.equal(await h1.incrementRestartCount(), 2);
    await h1.shutdown();
    const h2 = new RendezvousHandler(store, fast({ nodeId: 'x' }));
    assert.equal(await h2.getRestartCount(), 2);
    assert.equal(await new RendezvousHandler(store, fast({ runId: 'other' })).getRestartCount(), 0);
    await store.close();
  });

  it('setClosed makes waiting and later joins reject', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b'].map((id) => fast({ nodeId: id, minNodes: 3, joinTimeoutMs: 10_000 })), async ([a, b]) => {
      const pending = a.nextRendezvous();
      await sleep(100);
      assert.equal(await b.isClosed(), false);
      await b.setClosed();
      assert.equal(await a.isClosed(), true);
      await assert.rejects(pending, (err: unknown) => err instanceof DistributedSetupError && /closed/.test(err.message));
      await assert.rejects(b.nextRendezvous(), /closed/);
    });
    await store.close();
  });

  it('shutdown() and an AbortSignal stop a pending join at once, leaving the open round', async () => {
    const store = new MemoryStore();
    const params = fast({ minNodes: 3, joinTimeoutMs: 60_000, keepAliveIntervalMs: 5_000 });
    const a = new RendezvousHandler(store, { ...params, nodeId: 'a' });
    const b = new RendezvousHandler(store, { ...params, nodeId: 'b' });
    const pa = a.nextRendezvous();
    const ac = new AbortController();
    const pb = b.nextRendezvous({ signal: ac.signal });
    await sleep(100);
    let started = Date.now();
    await a.shutdown();
    await assert.rejects(pa, /shut down/);
    assert.ok(Date.now() - started < 1_000);
    started = Date.now();
    ac.abort();
    await assert.rejects(pb, /aborted/);
    assert.ok(Date.now() - started < 1_000);
    const state = JSON.parse((await store.get('job/rdzv/state')) ?? '{}') as { participants: unknown[] };
    assert.equal(state.participants.length, 0);
    await b.shutdown();
    await store.close();
  });

  it('a lost TCP store makes a pending nextRendezvous reject, never hang', async () => {
    const server = await TcpStoreServer.start({ port: 0, token: 't', logger: () => undefined });
    const client = await TcpStore.connect({ endpoint: server.endpoint, token: 't' });
    const h = new RendezvousHandler(client, fast({ nodeId: 'a', minNodes: 2, joinTimeoutMs: 60_000 }));
    const pending = h.nextRendezvous();
    await sleep(200);
    await server.close();
    await assert.rejects(pending, DistributedSetupError);
    await h.shutdown().catch(() => undefined);
    await client.close();
  });

  it('validates its parameters', () => {
    const store = new MemoryStore();
    assert.throws(() => new RendezvousHandler(store, fast({ minNodes: 0 })), ConfigurationError);
    assert.throws(() => new RendezvousHandler(store, fast({ minNodes: 3, maxNodes: 2 })), ConfigurationError);
    assert.throws(() => new RendezvousHandler(store, fast({ runId: '' })), ConfigurationError);
    assert.throws(() => new RendezvousHandler(store, fast({ keepAliveIntervalMs: 0 })), ConfigurationError);
    assert.throws(() => new RendezvousHandler(store, fast({ lastCallTimeoutMs: -1 })), ConfigurationError);
  });

  it('lastCallTimeoutMs 0 closes the round as soon as minNodes are in', async () => {
    const store = new MemoryStore();
    await withHandlers(store, ['a', 'b', 'c'].map((id) => fast({ nodeId: id, minNodes: 2, maxNodes: 3, lastCallTimeoutMs: 0 })), async ([a, b, c]) => {
      const infos = await Promise.all([a.nextRendezvous(), b.nextRendezvous()]);
      assert.deepEqual(infos.map((i) => i.nodeCount), [2, 2]);
      void c;
    });
    await store.close();
  });
});
