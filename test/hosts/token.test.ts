/**
 * The job's token between real hosts: an agent on another host that brings a different token is
 * refused by the store (etcd on the bridge) before it takes part in any round, and names the fix.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { netnsUnavailable } from '../helpers/netns.js';
import { hostsBed, type HostsBed } from './job-on-bed.js';

const unavailable = netnsUnavailable();

describe('the wrong token across hosts', { skip: unavailable }, () => {
  let h: HostsBed | undefined;
  before(async () => {
    h = await hostsBed(2);
  });
  after(async () => {
    await h?.close();
  });

  it('host 1 with another token is refused; no round forms, no worker runs; host 0 gives up at its join timeout', async () => {
    const b = h as HostsBed;
    const { results, reports } = await b.job(
      [
        { host: 0, token: 'the-jobs-token' },
        { host: 1, token: 'an-intruders-token', delayMs: 2000 },
      ],
      { conf: ',join_timeout=8', timeoutMs: 45_000 },
    );
    const [good, bad] = results;
    assert.notEqual(bad.code, 0, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /belongs to a job with a different token: this agent's token does not match/);
    assert.match(bad.stderr, /same token \(--rdzv-conf token=\.\.\. or EH_TOKEN\)/);
    assert.doesNotMatch(bad.stderr + good.stderr, /round \d+: node rank/);
    assert.deepEqual(reports, [undefined, undefined]);
    assert.notEqual(good.code, 0, 'the honest host had no peer to form a job of 2 with');
    assert.doesNotMatch(good.stderr, /different token/);
  });
});
