/**
 * A silent peer is found by its missing heartbeats. A cut link sends no reset: two ranks on two network-namespace hosts, TCP between them; after one
 * allreduce, host 1's link is taken down and both ranks enter the next allreduce. Each must find the
 * other lost through the missing heartbeats, within the peer timeout (not at the collective's own
 * timeout of a minute, nor at TCP's), with a PeerLostError that names the silent rank. The same for
 * a frozen process (SIGSTOP) over TCP on one machine, which needs no root.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, netnsUnavailable, type Testbed } from '../helpers/netns.js';
import { launchWorkers, type WorkerGroup, type WorkerMessage } from '../collective/launch-helper.js';

const unavailable = netnsUnavailable();
const PEER_TIMEOUT_MS = 3000;

/** Both ranks' second allreduce failed with PeerLostError naming the other, PEER_TIMEOUT_MS (plus a tick or two) after `since`. */
function assertFoundSilentPeer(results: WorkerMessage[], since: number, only?: number): void {
  for (const r of results) {
    if (only !== undefined && r.rank !== only) continue;
    const other = 1 - r.rank;
    assert.equal(r.type, 'failed', JSON.stringify(r));
    assert.equal(r.peerLost, true, JSON.stringify(r));
    assert.equal(r.lostRank, other);
    assert.match(String(r.message), new RegExp(`rank ${String(other)} was lost: nothing came from it for \\d+ ms, not even a heartbeat`));
    // Within the peer timeout plus a heartbeat tick or two, far inside the collective's 60 s.
    const after = r.at - since;
    assert.ok(after >= PEER_TIMEOUT_MS - 1000 && after < PEER_TIMEOUT_MS + 2500, `rank ${String(r.rank)} found the silent peer ${String(after)} ms after it went silent`);
  }
}

const ended = (g: WorkerGroup, rank: number): Promise<WorkerMessage> => g.waitFor((m) => (m.type === 'failed' || m.type === 'completed') && m.rank === rank, 30_000, `rank ${String(rank)}'s second allreduce to end`);
const env = { EH_COLLECTIVE_PEER_TIMEOUT_MS: String(PEER_TIMEOUT_MS), PAUSE_MS: '1000' };

describe('a frozen peer over TCP on one machine', () => {
  it('SIGSTOP on rank 1 during the allreduce: rank 0 fails with PeerLostError naming rank 1 within the peer timeout', async () => {
    const g = await launchWorkers({
      n: 2,
      script: 'test/hosts/silent-worker.ts',
      env: { ...env, EH_COLLECTIVE_TRANSPORT: 'tcp' },
      rankEnv: (rank) => ({ LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1', GROUP_RANK: String(rank), EH_HOST_ID: `frozen-host-${String(rank)}` }),
    });
    try {
      await Promise.all([0, 1].map((rank) => g.waitFor((m) => m.type === 'ready' && m.rank === rank, 60_000, `rank ${String(rank)} ready`)));
      g.procs[1].kill('SIGSTOP');
      const stoppedAt = Date.now();
      assertFoundSilentPeer([await ended(g, 0)], stoppedAt, 0);
    } finally {
      g.procs[1].kill('SIGCONT');
      await g.close();
    }
  });
});

describe('a silent peer between hosts', { skip: unavailable }, () => {
  let bed: Testbed | undefined;
  let group: WorkerGroup | undefined;
  before(async () => {
    bed = await createTestbed({ hosts: 2 });
  });
  after(async () => {
    try {
      await group?.close();
    } finally {
      await bed?.teardown();
    }
  });

  it('a cross-host allreduce whose peer went silent (link down) fails with PeerLostError naming it, within the peer timeout', async () => {
    const b = bed as Testbed;
    group = await launchWorkers({
      n: 2,
      script: 'test/hosts/silent-worker.ts',
      storeHost: b.gateway,
      env,
      rankEnv: (rank) => ({ LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1', GROUP_RANK: String(rank), EH_HOST_ID: `silent-host-${String(rank)}`, EH_COLLECTIVE_ADDR: b.hosts[rank].address }),
      spawnRank: (rank, command, argv, options) => b.spawn(rank, command, argv, { ...options, privateShm: true }),
    });
    const g = group;
    await Promise.all([0, 1].map((rank) => g.waitFor((m) => m.type === 'ready' && m.rank === rank, 60_000, `rank ${String(rank)} ready`)));
    b.setLink(1, false);
    const cutAt = Date.now();
    try {
      assertFoundSilentPeer(await Promise.all([0, 1].map((rank) => ended(g, rank))), cutAt);
    } finally {
      b.setLink(1, true);
    }
    await g.waitExit(20_000);
  });
});
