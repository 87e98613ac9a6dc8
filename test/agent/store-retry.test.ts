/**
 * withStoreRetry (unit test of the retry logic): an unreachable store is waited for with backoff up to
 * `outageMs`, other errors get their few tries, and final answers are not retried at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentSignals } from '../../src/agent/agent-signals.js';
import { withStoreRetry } from '../../src/agent/store-retry.js';
import { DistributedSetupError } from '../../src/errors/index.js';
import { StoreUnavailableError } from '../../src/rendezvous/index.js';

const signals = new AgentSignals();

test('an outage shorter than outageMs is lived through (more tries than `attempts`)', async () => {
  const until = Date.now() + 1500;
  let tries = 0;
  const v = await withStoreRetry('read a key', async () => {
    tries += 1;
    if (Date.now() < until) throw new StoreUnavailableError('etcd unreachable (test)');
    return 'ok';
  }, { signals, outageMs: 10_000, delayMs: 100 });
  assert.equal(v, 'ok');
  assert.ok(tries > 3, `retried through the outage (${String(tries)} tries)`);
});

test('an outage longer than outageMs fails, saying for how long it tried', async () => {
  const t0 = Date.now();
  await assert.rejects(
    withStoreRetry('count the restart', async () => {
      throw new StoreUnavailableError('etcd unreachable (test)');
    }, { signals, outageMs: 800, delayMs: 100 }),
    (e: unknown) => e instanceof DistributedSetupError && /could not be reached to count the restart after \d+ tries over \d+ s: etcd unreachable/.test(e.message),
  );
  assert.ok(Date.now() - t0 < 3000);
});

test('other errors get `attempts` tries; a final answer is thrown at once', async () => {
  let tries = 0;
  await assert.rejects(withStoreRetry('read a key', async () => {
    tries += 1;
    throw new Error('ECONNRESET (test)');
  }, { signals, outageMs: 10_000, delayMs: 10 }), /after 3 tries: ECONNRESET/);
  assert.equal(tries, 3);
  tries = 0;
  const closed = new DistributedSetupError('the rendezvous is closed (test)');
  await assert.rejects(withStoreRetry('join the rendezvous', async () => {
    tries += 1;
    throw closed;
  }, { signals, outageMs: 10_000, isFinal: (e) => !(e instanceof StoreUnavailableError) }), (e: unknown) => e === closed);
  assert.equal(tries, 1);
});
