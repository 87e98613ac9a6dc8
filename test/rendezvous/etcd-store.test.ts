import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { DistributedSetupError } from '../../src/errors/index.js';
import { EtcdStore } from '../../src/rendezvous/etcd-store.js';
import { RendezvousHandler } from '../../src/rendezvous/rendezvous-handler.js';
import { connectStoreFromEnv } from '../../src/rendezvous/factory.js';
import { PrefixStore } from '../../src/rendezvous/prefix-store.js';
import { startEtcd, startEtcdCluster, type EtcdHandle } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { storeConformance } from './store-conformance.js';

const TOKEN = 'etcd-test-token';

describe('EtcdStore against a real etcd', () => {
  let etcd: EtcdHandle;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd.stop());

  const open = async (): Promise<{ a: EtcdStore; b: EtcdStore; done(): Promise<void> }> => {
    const a = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/conf/', timeoutMs: 5_000 });
    const b = await EtcdStore.connect({ endpoints: `http://${etcd.endpoint}`, token: TOKEN, namespace: 'eh/conf/', timeoutMs: 5_000 });
    return { a, b, done: async () => { await a.close(); await b.close(); } };
  };

  describe('conformance', () => storeConformance({ open, ttlMs: 1_000 }));
  describe('conformance through a PrefixStore', () =>
    storeConformance({
      ttlMs: 1_000,
      open: async () => {
        const s = await open();
        return { a: new PrefixStore(s.a, 'run/round/2'), b: new PrefixStore(s.b, 'run/round/2'), done: s.done };
      },
    }));

  it('keeps each namespace apart and stores only a hash of the token', async () => {
    const a = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/ns1/' });
    const b = await EtcdStore.connect({ endpoints: etcd.endpoint, token: 'another-job', namespace: 'eh/ns2/' });
    try {
      await a.set('k', 'one');
      await b.set('k', 'two');
      assert.equal(await a.get('k'), 'one');
      assert.equal(await b.get('k'), 'two');
      assert.deepEqual(await a.keys(''), ['k']);
      const res = await fetch(`http://${etcd.endpoint}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key: Buffer.from('eh/ns1/token').toString('base64') }),
      });
      const body = (await res.json()) as { kvs: { value: string }[] };
      const stored = Buffer.from(body.kvs[0].value, 'base64').toString('utf8');
      assert.match(stored, /^[0-9a-f]{64}$/);
      assert.notEqual(stored, TOKEN);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses an agent whose token differs from the one recorded for the namespace', async () => {
    const first = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/guarded/' });
    try {
      await assert.rejects(EtcdStore.connect({ endpoints: etcd.endpoint, token: 'wrong', namespace: 'eh/guarded/', timeoutMs: 3_000 }), (err: unknown) => {
        assert.ok(err instanceof DistributedSetupError);
        assert.match(err.message, /token/);
        assert.match(err.message, /eh\/guarded\//);
        return true;
      });
      const again = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/guarded/' });
      await again.close();
    } finally {
      await first.close();
    }
  });

  it('a TTL set by one client outlives that client only until it expires', async () => {
    const a = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/ttl/' });
    const b = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/ttl/' });
    try {
      await a.set('alive', 'x', { ttlMs: 1_000 });
      await a.close();
      assert.equal(await b.get('alive'), 'x');
      await new Promise((r) => setTimeout(r, 2_200));
      assert.equal(await b.get('alive'), undefined);
    } finally {
      await b.close();
    }
  });
});

describe('EtcdStore with etcd authentication enabled', () => {
  it('connects with the right credentials, and is refused at once without them or with wrong ones', async () => {
    const etcd = await startEtcd();
    try {
      const ctl = (...args: string[]): string => execFileSync('etcdctl', ['--endpoints', etcd.endpoint, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      ctl('user', 'add', 'root', '--new-user-password=rootpw');
      ctl('auth', 'enable');
      for (const auth of [undefined, { username: 'root', password: 'wrong' }]) {
        const started = Date.now();
        await assert.rejects(EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/auth/', timeoutMs: 10_000, ...(auth === undefined ? {} : { auth }) }), (err: unknown) => {
          assert.ok(err instanceof DistributedSetupError);
          assert.match(err.message, /refused this agent's credentials/);
          assert.match(err.message, /auth/);
          return true;
        });
        assert.ok(Date.now() - started < 5_000, 'a refusal is not retried until the timeout');
      }
      const store = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/auth/', auth: { username: 'root', password: 'rootpw' } });
      // A worker gets the credentials the etcdctl way.
      const env = { EH_STORE_BACKEND: 'etcd', EH_STORE_ENDPOINT: etcd.endpoint, EH_TOKEN: TOKEN, TORCHELASTIC_RUN_ID: 'auth', EH_STORE_PREFIX: 'r/0' };
      const worker = await connectStoreFromEnv({ env: { ...env, ETCDCTL_USER: 'root:rootpw' } });
      await worker.set('from-worker', 'hi');
      await worker.close();
      await assert.rejects(connectStoreFromEnv({ env, timeoutMs: 5_000 }), /credentials/);
      try {
        assert.equal(await store.get('r/0/from-worker'), 'hi');
        await store.set('k', 'v', { ttlMs: 1_000 });
        const waiting = store.wait(['w'], 5_000);
        await store.set('w', '1');
        await waiting;
        assert.equal(await store.get('k'), 'v');
      } finally {
        await store.close();
      }
    } finally {
      await etcd.stop();
    }
  });
});

describe('EtcdStore failures', () => {
  it('an endpoint nobody listens on rejects within the timeout, naming it', async () => {
    const endpoint = `127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await assert.rejects(EtcdStore.connect({ endpoints: endpoint, token: TOKEN, timeoutMs: 1_000, requestTimeoutMs: 500 }), (err: unknown) => {
      assert.ok(err instanceof DistributedSetupError);
      assert.match(err.message, new RegExp(endpoint));
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took < 6_000, `took ${took} ms`);
  });

  it('stopping etcd makes pending and later calls reject with DistributedSetupError within a bound', async () => {
    const etcd = await startEtcd();
    const store = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/stop/', requestTimeoutMs: 1_000 });
    try {
      await store.set('k', 'v');
      const pending = store.wait(['never'], 60_000);
      pending.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      const stoppedAt = Date.now();
      await etcd.stop();
      await assert.rejects(pending, DistributedSetupError);
      const waitTook = Date.now() - stoppedAt;
      const callStart = Date.now();
      await assert.rejects(store.get('k'), DistributedSetupError);
      await assert.rejects(store.set('k', 'w'), DistributedSetupError);
      const callTook = Date.now() - callStart;
      assert.ok(waitTook < 10_000, `wait rejected after ${waitTook} ms`);
      assert.ok(callTook < 10_000, `calls rejected after ${callTook} ms`);
    } finally {
      await store.close();
      await etcd.stop();
    }
  });

  it('a frozen etcd (SIGSTOP: connection open, no answers) makes a pending wait and later calls reject', async () => {
    const etcd = await startEtcd();
    const store = await EtcdStore.connect({ endpoints: etcd.endpoint, token: TOKEN, namespace: 'eh/frozen/', requestTimeoutMs: 1_000 });
    try {
      const pending = store.wait(['never'], 120_000);
      pending.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      process.kill(etcd.pid, 'SIGSTOP');
      const stoppedAt = Date.now();
      await assert.rejects(pending, DistributedSetupError);
      const waitTook = Date.now() - stoppedAt;
      await assert.rejects(store.get('k'), DistributedSetupError);
      assert.ok(waitTook < 20_000, `wait rejected after ${waitTook} ms`);
    } finally {
      process.kill(etcd.pid, 'SIGCONT');
      await store.close();
      await etcd.stop();
    }
  });
});

describe('EtcdStore on a 3-member etcd cluster', () => {
  it('keeps working, waits included, when one member is killed with SIGKILL', async () => {
    const cluster = await startEtcdCluster(3);
    const endpoints = cluster.members.map((m) => m.endpoint);
    // Several clients, so that some watch streams are likely on the member that dies (hosts are picked at random).
    const clients = await Promise.all(Array.from({ length: 6 }, () => EtcdStore.connect({ endpoints, token: TOKEN, namespace: 'eh/cluster/', requestTimeoutMs: 3_000 })));
    try {
      await clients[0].set('before', '1');
      const waits = clients.map((c, i) => c.wait([`after/${i}`], 30_000));
      for (const w of waits) w.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      process.kill(cluster.members[0].pid, 'SIGKILL');
      const killedAt = Date.now();
      for (let i = 0; i < 20; i++) {
        const c = clients[i % clients.length];
        assert.equal(await c.get('before'), '1');
        await c.set(`k${i}`, String(i));
        assert.equal(await c.add('counter', 1), i + 1);
      }
      for (let i = 0; i < clients.length; i++) await clients[(i + 1) % clients.length].set(`after/${i}`, 'x');
      await Promise.all(waits);
      const took = Date.now() - killedAt;
      assert.ok(took < 20_000, `took ${took} ms`);
      assert.equal((await clients[1].keys('k')).length, 20);
    } finally {
      for (const c of clients) await c.close();
      await cluster.stop();
    }
  });

  it('a rendezvous round survives the loss of an etcd member: no spurious staleness, later rounds still form', async () => {
    const cluster = await startEtcdCluster(3);
    const endpoints = cluster.members.map((m) => m.endpoint);
    const stores = await Promise.all([0, 1, 2].map(() => EtcdStore.connect({ endpoints, token: TOKEN, namespace: 'eh/cluster-rdzv/', requestTimeoutMs: 3_000 })));
    const params = { runId: 'cr', minNodes: 2, maxNodes: 3, joinTimeoutMs: 20_000, lastCallTimeoutMs: 500, closeTimeoutMs: 5_000, keepAliveIntervalMs: 300, keepAliveMaxAttempt: 4 };
    const hs = stores.map((s, i) => new RendezvousHandler(s, { ...params, nodeId: `e${i}` }));
    try {
      const first = await Promise.all(hs.map((h) => h.nextRendezvous()));
      assert.deepEqual(first.map((i) => i.nodeCount), [3, 3, 3]);
      process.kill(cluster.members[1].pid, 'SIGKILL');
      // Keep-alives fail over to the live members: the round stays valid well past the lapse time.
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        for (const h of hs) {
          if (await h.isRoundStale()) {
            const alive = await stores[0].keys('cr/rdzv/alive/');
            assert.fail(`round went stale ${Date.now() - (until - 3_000)} ms after the kill; alive keys: ${alive.join(', ')}; keep-alive errors: ${hs.map((x) => String(x.lastKeepAliveError)).join(' | ')}`);
          }
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      await hs[2].shutdown();
      const second = await Promise.all(hs.slice(0, 2).map((h) => h.nextRendezvous()));
      assert.deepEqual(second.map((i) => [i.round, i.nodeCount]), [[1, 2], [1, 2]]);
    } finally {
      for (const h of hs) await h.shutdown().catch(() => undefined);
      for (const s of stores) await s.close();
      await cluster.stop();
    }
  });
});
