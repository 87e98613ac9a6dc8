/**
 * The address a node's ranks advertise, between real hosts: host 0 has two networks and the first
 * non-internal IPv4 it lists is one host 1 cannot reach (a management network); the agent gives its
 * workers the address of the route to the store (or --local-addr), so the job forms over the shared
 * one. EH_COLLECTIVE_ADDR stays an override, and a set-up that times out names the ranks involved.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { netnsUnavailable } from '../helpers/netns.js';
import { hostsBed, type HostsBed } from './job-on-bed.js';

const unavailable = netnsUnavailable();
const ip = (args: string[]): void => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
};

describe('the advertised address on a host with two networks', { skip: unavailable }, () => {
  let h: HostsBed | undefined;
  let mgmt = '';
  before(async () => {
    h = await hostsBed(2);
    const { bed } = h;
    const data = bed.hosts[0].address;
    mgmt = `10.214.${String(bed.id)}.2`;
    // The management address first on the interface, so every lister (Node's included) sees it first.
    ip(['-n', bed.hosts[0].ns, 'addr', 'flush', 'dev', 'eth0']);
    ip(['-n', bed.hosts[0].ns, 'addr', 'add', `${mgmt}/24`, 'dev', 'eth0']);
    ip(['-n', bed.hosts[0].ns, 'addr', 'add', `${data}/24`, 'dev', 'eth0']);
  });
  after(async () => {
    await h?.close();
  });

  it('the premise: host 0 lists the unreachable address first', async () => {
    const b = h as HostsBed;
    const first = "for (const l of Object.values(require('os').networkInterfaces())) for (const a of l) if (a.family === 'IPv4' && !a.internal) { console.log(a.address); process.exit(0); }";
    const r = await b.bed.run(0, process.execPath, ['-e', first]);
    assert.equal(r.stdout.trim(), mgmt);
    const probe = await b.bed.run(1, process.execPath, ['-e', `require('net').connect(9, '${mgmt}').on('error', (e) => { console.log(e.code); process.exit(0); })`]);
    assert.match(probe.stdout, /ENETUNREACH|EHOSTUNREACH/);
  });

  it('without flags the route to the store decides; --local-addr is taken as given; the job forms over the data network', async () => {
    const b = h as HostsBed;
    const { results, reports } = await b.job([{ host: 0 }, { host: 1, args: ['--local-addr', b.bed.hosts[1].address] }]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const advertised = reports.map((rep) => rep?.collectiveAddr).sort();
    assert.deepEqual(advertised, b.bed.hosts.map((x) => x.address).sort());
    for (const [rank, rep] of reports.entries()) {
      assert.equal(rep?.sum, 3);
      assert.equal(rep?.connections[1 - rank]?.transport, 'tcp');
    }
  });

  it('EH_COLLECTIVE_ADDR overrides, and an address that swallows packets ends in a time-out naming the rank not reached and its address', async () => {
    const b = h as HostsBed;
    // A neighbour that exists only in host 1's table: its SYNs are flooded on the bridge and dropped, no reset, no ICMP.
    const hole = `10.213.${String(b.bed.id)}.250`;
    ip(['-n', b.bed.hosts[1].ns, 'neigh', 'add', hole, 'lladdr', '02:00:00:00:00:fa', 'dev', 'eth0', 'nud', 'permanent']);
    const { results } = await b.job(
      [
        // Host 0's rank waits longer, so host 1's (the one dialling into the hole) is the one that times out first.
        { host: 0, env: { EH_COLLECTIVE_ADDR: hole, SETUP_MS: '30000' } },
        { host: 1, env: { SETUP_MS: '4000' } },
      ],
      { timeoutMs: 45_000 },
    );
    const all = results.map((r) => r.stdout + r.stderr).join('\n');
    assert.ok(results.every((r) => r.code !== 0), all);
    assert.match(all, new RegExp(`\\(advertising [\\d.]+\\) timed out after 4000 ms connecting its process group: could not reach rank\\(s\\) \\d at ${hole.replace(/\./g, '\\.')}:\\d+`));
    assert.match(all, /--local-addr/);
    assert.doesNotMatch(all, /rank\(s\) -/);
  });
});
