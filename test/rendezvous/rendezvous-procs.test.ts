import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { DistributedSetupError } from '../../src/errors/index.js';
import { createStore, generateToken, RendezvousHandler, TcpStoreServer, type StoreHandle } from '../../src/rendezvous/index.js';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.js';
import { NodeProc, startNodes } from './node-procs.js';

/**
 * Rendezvous with real separate processes, each a "node", killed with real SIGKILL, against the
 * TCP store (hosted by the test process) and against a real etcd.
 */
for (const backend of ['tcp', 'etcd'] as const) {
  describe(`rendezvous across processes (${backend})`, () => {
    let etcd: EtcdHandle | undefined;
    let server: TcpStoreServer | undefined;
    let endpoint = '';
    const token = generateToken();
    let nodes: NodeProc[] = [];
    let runCounter = 0;
    // etcd leases count whole seconds: keep-alive lapses take longer there.
    const lapseMs = backend === 'etcd' ? 2_000 : 300;
    const slack = 15_000;

    before(async () => {
      if (backend === 'etcd') {
        etcd = await startEtcd();
        endpoint = etcd.endpoint;
      } else {
        server = await TcpStoreServer.start({ port: 0, token, logger: () => undefined });
        endpoint = server.endpoint;
      }
    });
    after(async () => {
      await server?.close();
      await etcd?.stop();
    });
    afterEach(async () => {
      for (const n of nodes) n.kill();
      await Promise.all(nodes.map((n) => n.exited));
      nodes = [];
    });

    const envFor = (over: Record<string, string> = {}): Record<string, string> => ({
      BACKEND: backend,
      ENDPOINT: endpoint,
      TOKEN: token,
      RUN_ID: `run-${backend}-${process.pid}-${runCounter++}`,
      MIN: '2',
      MAX: '4',
      LAST_CALL: '500',
      JOIN_TIMEOUT: '5000',
      KEEP_ALIVE: '100',
      ...over,
    });

    async function observer(runId: string): Promise<{ h: RendezvousHandler; store: StoreHandle }> {
      const store = await createStore({ backend, endpoint, token, runId });
      return { h: new RendezvousHandler(store, { runId, minNodes: 1, maxNodes: 4, joinTimeoutMs: 1_000, lastCallTimeoutMs: 100, closeTimeoutMs: 5_000, keepAliveIntervalMs: 100, keepAliveMaxAttempt: 3 }), store };
    }

    it('3 nodes form one round (ranks 0..2); a 4th scales up to 4; SIGKILL of one re-forms with 3', async () => {
      const env = envFor();
      nodes = await startNodes(['n0', 'n1', 'n2'], env);
      const first = await Promise.all(nodes.map((n) => n.roundInfo(0, slack)));
      for (const info of first) {
        assert.equal(info.nodeCount, 3);
        assert.deepEqual(info.participants, first[0].participants);
      }
      assert.deepEqual(first.map((i) => i.nodeRank).sort(), [0, 1, 2]);
      assert.equal(first[0].storePrefix, `${env.RUN_ID}/round/0`);

      // Scale up: a 4th node arrives after the round closed.
      const [n3] = await startNodes(['n3'], env);
      nodes.push(n3);
      const second = await Promise.all(nodes.map((n) => n.roundInfo(1, slack)));
      for (const info of second) assert.equal(info.nodeCount, 4);
      assert.deepEqual(second.map((i) => i.nodeRank).sort(), [0, 1, 2, 3]);
      // At least one saw the waiting node; the others may have seen the new round open first.
      for (const n of nodes.slice(0, 3)) await n.waitFor(/^RESTART (waiting=1|stale)$/, 1_000);
      assert.ok(nodes.slice(0, 3).some((n) => n.lines.includes('RESTART waiting=1')));

      // A node dies without a word: the others see the round go stale once its keep-alive lapses.
      const victim = nodes[1];
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      await victim.exited;
      const survivors = nodes.filter((n) => n !== victim);
      const third = await Promise.all(survivors.map((n) => n.roundInfo(2, slack)));
      const took = Date.now() - killedAt;
      for (const info of third) {
        assert.equal(info.nodeCount, 3);
        assert.ok(!info.participants.some((p) => p.nodeId === 'n1'));
      }
      assert.deepEqual(third.map((i) => i.nodeRank).sort(), [0, 1, 2]);
      for (const n of survivors) assert.ok(n.lines.includes('RESTART stale'));
      // Every live node was in, so the round closed as soon as the dead one lapsed, not after the last call.
      assert.ok(took < lapseMs + 4_000, `re-formed ${took} ms after the kill`);

      // The job ends: every node stops.
      const { h, store } = await observer(env.RUN_ID);
      await h.setClosed();
      await Promise.all(survivors.map((n) => n.waitFor(/^CLOSED$/, slack)));
      assert.deepEqual(await Promise.all(survivors.map((n) => n.exited)), [0, 0, 0]);
      await store.close();
    });

    it('maxNodes=2 with 3 nodes: one hot spare, which takes over when a participant is killed', async () => {
      const env = envFor({ MIN: '2', MAX: '2' });
      nodes = await startNodes(['s0', 's1', 's2'], env);
      // Two of them form round 0 at once (max reached); the third stays a spare.
      const deadline = Date.now() + slack;
      while (nodes.filter((n) => n.rounds().length > 0).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 800));
      const inRound = nodes.filter((n) => n.rounds().length > 0);
      const spare = nodes.find((n) => n.rounds().length === 0);
      assert.equal(inRound.length, 2);
      assert.ok(spare !== undefined);
      for (const n of inRound) assert.ok(!n.lines.some((l) => l.startsWith('RESTART')), 'a spare is no reason to restart');

      const victim = inRound[0];
      victim.kill('SIGKILL');
      await victim.exited;
      const survivor = inRound[1];
      const [a, b] = await Promise.all([survivor.roundInfo(1, slack), spare.roundInfo(1, slack)]);
      assert.equal(a.nodeCount, 2);
      assert.deepEqual(a.participants, b.participants);
      assert.deepEqual(a.participants.map((p) => p.nodeId).sort(), [survivor.id, spare.id].sort());
    });

    it('a node restarted after SIGKILL with the same nodeId re-joins the next round', async () => {
      const env = envFor({ MIN: '2', MAX: '2' });
      nodes = await startNodes(['c0', 'c1'], env);
      await Promise.all(nodes.map((n) => n.roundInfo(0, slack)));
      nodes[1].kill('SIGKILL');
      await nodes[1].exited;
      const [again] = await startNodes(['c1'], env);
      nodes.push(again);
      const [a, b] = await Promise.all([nodes[0].roundInfo(1, slack), again.roundInfo(1, slack)]);
      assert.deepEqual(a.participants.map((p) => p.nodeId).sort(), ['c0', 'c1']);
      assert.deepEqual(a.participants, b.participants);
    });

    it('min never reached: DistributedSetupError within joinTimeout, naming run, min and count', async () => {
      const env = envFor({ MIN: '3', JOIN_TIMEOUT: '600' });
      nodes = await startNodes(['m0', 'm1'], env);
      const started = Date.now();
      const errors = await Promise.all(nodes.map((n) => n.waitFor(/^ERROR /, slack)));
      const took = Date.now() - started;
      for (const line of errors) {
        assert.match(line, new RegExp(env.RUN_ID));
        assert.match(line, /of the minimum 3 node/);
      }
      assert.ok(errors.some((l) => /2 of the minimum 3/.test(l)), errors.join('\n'));
      assert.ok(took < 600 + 5_000, `took ${took} ms`);
      assert.deepEqual(await Promise.all(nodes.map((n) => n.exited)), [2, 2]);
      void DistributedSetupError;
    });
  });
}
