/**
 * Host identity between real hosts: two network namespaces with the same hostname (namespaces share
 * the UTS one) run one `eh run` each against etcd on the bridge. The default identity tells them
 * apart (TCP, no shared memory); a user-set EH_HOST_ID wins; a wrong "same host" verdict fails with
 * an error that says what was compared.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { netnsUnavailable } from '../helpers/netns.js';
import { hostsBed, type HostsBed } from './job-on-bed.js';

const unavailable = netnsUnavailable();

describe('host identity across network namespaces', { skip: unavailable }, () => {
  let h: HostsBed | undefined;
  before(async () => {
    h = await hostsBed(2);
  });
  after(async () => {
    await h?.close();
  });

  it('two hosts with the same hostname form one job over TCP, without shared memory', async () => {
    const b = h as HostsBed;
    const names = await Promise.all([0, 1].map((i) => b.bed.run(i, 'hostname', [])));
    assert.equal(names[0].stdout, names[1].stdout, 'the namespaces share one hostname');
    const { results, reports } = await b.job([{ host: 0 }, { host: 1 }]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    for (const [rank, rep] of reports.entries()) {
      assert.ok(rep !== undefined, `rank ${String(rank)} reported`);
      assert.equal(rep.world, 2);
      assert.equal(rep.sum, 3);
      assert.equal(rep.usesSharedMemory, false);
      const peer = rep.connections[1 - rank];
      assert.equal(peer?.transport, 'tcp');
      assert.ok(rep.hostId.startsWith(`${hostname()}/`), rep.hostId);
    }
    // Each rank dialled the other host's own address on the bed (which rank is on which host is the rendezvous's choice).
    const dialled = reports.map((rep, rank) => rep?.connections[1 - rank]?.remote?.replace(/:\d+$/, '')).sort();
    assert.deepEqual(dialled, b.bed.hosts.map((x) => x.address).sort());
    assert.notEqual(reports[0]?.hostId, reports[1]?.hostId);
  });

  it('a user-set EH_HOST_ID wins: the same id on both means one host (Unix socket; /tmp is truly shared here)', async () => {
    const b = h as HostsBed;
    const { results, reports } = await b.job([0, 1].map((host) => ({ host, env: { EH_HOST_ID: 'one-box' } })));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    for (const [rank, rep] of reports.entries()) {
      assert.equal(rep?.hostId, 'one-box');
      assert.equal(rep?.connections[1 - rank]?.transport, 'unix');
      assert.equal(rep?.sum, 3);
    }
  });

  it('the same EH_HOST_ID on hosts that share no /tmp: the dial error says which host ids were compared and what to do', async () => {
    const b = h as HostsBed;
    const { results } = await b.job(
      [0, 1].map((host) => ({ host, privateTmp: true, env: { EH_HOST_ID: 'cloned-vm', SETUP_MS: '4000' } })),
      { timeoutMs: 45_000 },
    );
    const all = results.map((r) => r.stdout + r.stderr).join('\n');
    assert.ok(results.some((r) => r.code !== 0), all);
    assert.match(all, /could not connect to rank \d at \/tmp\/eh-c-[^:]*: .*ENOENT/);
    assert.match(all, /Unix socket, since both have host id "cloned-vm"; if they are different machines, give each its own EH_HOST_ID/);
  });
});
