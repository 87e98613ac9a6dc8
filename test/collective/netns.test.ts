/**
 * The TCP ring between hosts, for real: one rank per network namespace (its own veth, address,
 * /dev/shm and EH_HOST_ID), the store in the root namespace on the test bed's bridge. The host
 * names are the same in every namespace, so the test sets EH_HOST_ID per namespace.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createTestbed, netnsUnavailable, sweepStaleTestbeds, type Testbed } from '../helpers/netns.js';
import { launchWorkers, type WorkerGroup, type WorkerMessage } from './launch-helper.js';

const WORKER = 'test/collective/fast-worker.ts';
const HOSTS = 3;
const unavailable = netnsUnavailable();

describe('collectives across network namespaces (TCP between hosts)', { skip: unavailable }, () => {
  let bed: Testbed | undefined;
  const groups: WorkerGroup[] = [];

  before(async () => {
    bed = await createTestbed({ hosts: HOSTS });
  });
  after(async () => {
    try {
      for (const g of groups) await g.close();
    } finally {
      await bed?.teardown();
    }
  });

  async function launch(args: string[]): Promise<WorkerGroup> {
    const b = bed as Testbed;
    const g = await launchWorkers({
      n: HOSTS,
      script: WORKER,
      args,
      storeHost: b.gateway,
      rankEnv: (rank) => ({
        LOCAL_RANK: '0',
        LOCAL_WORLD_SIZE: '1',
        GROUP_RANK: String(rank),
        EH_HOST_ID: `netns-host-${String(rank)}`,
        EH_COLLECTIVE_ADDR: b.hosts[rank].address,
      }),
      spawnRank: (rank, command, argv, options) => b.spawn(rank, command, argv, { ...options, privateShm: true }),
    });
    groups.push(g);
    return g;
  }

  const inSubnet = (addr: string): boolean => addr.startsWith(`10.213.${String((bed as Testbed).id)}.`);

  it('every dtype and op, random data (NaN, infinities, -0, denormals) and exact values, agree on every host; TCP over the veths, never shared memory', async () => {
    const g = await launch(['agree']);
    await g.waitExit(90_000);
    const reports = g.messages.filter((m) => m.type === 'agree').sort((a, b) => a.rank - b.rank);
    assert.equal(reports.length, HOSTS, JSON.stringify(g.exits.map((e) => e?.stderr)));
    for (const r of reports) {
      assert.deepEqual(r.failures, []);
      assert.equal(r.usesSharedMemory, false);
      assert.deepEqual(r.hashes, reports[0].hashes, `rank ${String(r.rank)} agrees with rank 0`);
      const conns = r.connections as ({ transport: string; remote?: string } | null)[];
      conns.forEach((c, p) => {
        if (p === r.rank) return;
        assert.equal(c?.transport, 'tcp', `rank ${String(r.rank)} to rank ${String(p)}`);
        assert.ok(inSubnet(c?.remote ?? ''), `rank ${String(r.rank)} reaches rank ${String(p)} at ${String(c?.remote)}, on the test subnet`);
        assert.ok((c?.remote ?? '').startsWith(`${(bed as Testbed).hosts[p].address}:`), 'at that host’s own address');
      });
    }
    assert.deepEqual(g.exits.map((e) => e?.code), new Array<number>(HOSTS).fill(0));
  });

  it('a host whose rank is SIGKILLed mid allReduce: the others get PeerLostError naming it', async () => {
    const g = await launch(['loop', String(1 << 20)]);
    const ready: WorkerMessage[] = await Promise.all([0, 1, 2].map((r) => g.waitFor((m) => m.type === 'ready' && m.rank === r, 60_000, `rank ${String(r)} ready`)));
    for (const m of ready) assert.equal(m.usesSharedMemory, false);
    // The spawned process is the rank itself (ip netns exec, unshare and sh exec in turn).
    assert.equal(ready[1].pid, g.procs[1].pid);
    await g.waitFor((m) => m.type === 'looping' && m.rank === 1, 60_000, 'rank 1 looping');
    g.procs[1].kill('SIGKILL');
    const lost = await Promise.all([0, 2].map((r) => g.waitFor((m) => m.type === 'lost' && m.rank === r, 30_000, `rank ${String(r)} lost`)));
    for (const m of lost) {
      assert.equal(m.name, 'PeerLostError', String(m.message));
      assert.equal(m.lostRank, 1);
      assert.match(String(m.message), /rank 1/);
    }
    const exits = await g.waitExit(30_000);
    assert.equal(exits[1].signal, 'SIGKILL');
  });
});

describe('the network-namespace test bed (test/helpers/netns.ts)', { skip: unavailable }, () => {
  const links = (): string => spawnSync('ip', ['-br', 'link'], { encoding: 'utf8' }).stdout;
  const namespaces = (): string => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;

  it('hosts reach each other over the bed; teardown removes namespaces, veths and bridge, and a bed of a dead owner is swept', async () => {
    const bed = await createTestbed({ hosts: 2 });
    let torn = false;
    try {
      const server = bed.spawn(1, process.execPath, ['-e', `require('net').createServer((s) => s.end('pong')).listen(7123, '${bed.hosts[1].address}', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((resolve) => server.stdout?.once('data', resolve));
      const client = `const s = require('net').connect(7123, '${bed.hosts[1].address}'); s.on('data', (d) => process.stdout.write(String(d))); s.on('error', (e) => { console.error(e.message); process.exit(1); })`;
      const got = await bed.run(0, process.execPath, ['-e', client], { timeoutMs: 15_000 });
      assert.equal(got.stdout, 'pong', got.stderr);
      // The root namespace's loopback is not host 1's.
      const fromLo = await bed.run(0, process.execPath, ['-e', "const s = require('net').connect(7123, '127.0.0.1'); s.on('connect', () => process.exit(0)); s.on('error', () => process.exit(3))"], { timeoutMs: 15_000 });
      assert.equal(fromLo.code, 3);
      await bed.teardown();
      torn = true;
      assert.doesNotMatch(namespaces(), new RegExp(`ehtb${String(bed.id)}h`));
      assert.doesNotMatch(links(), new RegExp(`ehbr${String(bed.id)}\\b|ehtb${String(bed.id)}v`));
    } finally {
      if (!torn) await bed.teardown();
    }
    // A bed whose owner died before its teardown (its bridge carries the owner's pid).
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const stale = await createTestbed({ hosts: 1 });
    try {
      spawnSync('ip', ['link', 'set', 'dev', `ehbr${String(stale.id)}`, 'alias', `eh-testbed pid=${String(dead)}`]);
      assert.ok(sweepStaleTestbeds() >= 1);
      assert.doesNotMatch(links(), new RegExp(`ehbr${String(stale.id)}\\b`));
      assert.doesNotMatch(namespaces(), new RegExp(`ehtb${String(stale.id)}h`));
    } finally {
      await stale.teardown();
    }
  });
});
