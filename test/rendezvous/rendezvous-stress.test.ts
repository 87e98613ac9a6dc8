import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RendezvousHandler, TcpStore, TcpStoreServer, type RendezvousInfo } from '../../src/rendezvous/index.js';

/**
 * Random churn against one TCP store, each simulated agent on its own connection: nodes join, restart,
 * die (connection dropped, keep-alive left to lapse), and new ones arrive. Whatever the interleaving,
 * everyone who got a given round must have got the same participants, with sizes within [min, max].
 */
it('random churn keeps every round consistent across the nodes that got it', async () => {
  const token = 'stress';
  const server = await TcpStoreServer.start({ port: 0, token, logger: () => undefined });
  const params = { runId: 'stress', minNodes: 2, maxNodes: 4, joinTimeoutMs: 20_000, lastCallTimeoutMs: 150, closeTimeoutMs: 2_000, keepAliveIntervalMs: 60, keepAliveMaxAttempt: 3 };
  const seen = new Map<number, { nodeId: string; info: RendezvousInfo }[]>();
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let stopAll = false;
  const agents: { id: string; client: TcpStore; h: RendezvousHandler; loop: Promise<void>; dead: boolean }[] = [];
  let next = 0;

  const spawnAgent = async (): Promise<void> => {
    const id = `s${next++}`;
    const client = await TcpStore.connect({ endpoint: server.endpoint, token });
    const h = new RendezvousHandler(client, { ...params, nodeId: id });
    const agent = { id, client, h, dead: false, loop: Promise.resolve() };
    agent.loop = (async () => {
      while (!stopAll && !agent.dead) {
        const info = await h.nextRendezvous();
        const list = seen.get(info.round) ?? [];
        list.push({ nodeId: id, info });
        seen.set(info.round, list);
        const until = Date.now() + 50 + rand() * 300;
        while (!stopAll && !agent.dead && Date.now() < until) {
          if ((await h.isRoundStale()) || (await h.numNodesWaiting()) > 0) break;
          await sleep(20);
        }
      }
    })().catch((err: unknown) => {
      if (!agent.dead && !stopAll) throw err;
    });
    agents.push(agent);
  };

  try {
    for (let i = 0; i < 4; i++) await spawnAgent();
    const end = Date.now() + 4_000;
    while (Date.now() < end) {
      await sleep(150 + rand() * 250);
      const live = agents.filter((a) => !a.dead);
      const r = rand();
      if (r < 0.35 && live.length > 2) {
        const victim = live[Math.floor(rand() * live.length)];
        victim.dead = true;
        await victim.client.close(); // its keep-alive stops reaching the store and lapses
      } else if (r < 0.75 && live.length < 6) {
        await spawnAgent();
      }
    }
    stopAll = true;
    await server.close(); // ends every loop still waiting
    await Promise.all(agents.map((a) => a.loop.catch(() => undefined)));
  } finally {
    stopAll = true;
    await server.close();
    for (const a of agents) await a.client.close();
  }

  assert.ok(seen.size >= 3, `only ${seen.size} rounds formed`);
  if (process.env.STRESS_VERBOSE !== undefined) for (const [r, l] of seen) console.log(r, l[0].info.participants.map((p) => p.nodeId).join(","), "seen by", l.length);
  for (const [round, list] of seen) {
    const first = list[0].info;
    assert.ok(first.nodeCount >= params.minNodes && first.nodeCount <= params.maxNodes, `round ${round} has ${first.nodeCount} nodes`);
    assert.deepEqual(first.participants.map((p) => p.rank), [...first.participants.keys()]);
    assert.equal(new Set(first.participants.map((p) => p.nodeId)).size, first.nodeCount);
    for (const { nodeId, info } of list) {
      assert.deepEqual(info.participants, first.participants, `round ${round}: ${nodeId} disagrees`);
      assert.equal(info.participants[info.nodeRank].nodeId, nodeId);
    }
    assert.equal(new Set(list.map((x) => x.nodeId)).size, list.length, `round ${round} returned twice to one node`);
  }
});
