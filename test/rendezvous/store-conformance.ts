import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigurationError, DistributedSetupError } from '../../src/errors/index.js';
import type { Store } from '../../src/rendezvous/store.js';

export interface ConformanceOptions {
  /** Two independent connections to the same data (wait on one, set on the other). */
  open(): Promise<{ a: Store; b: Store; done(): Promise<void> }>;
  /** Shortest TTL the backend honours (etcd leases are whole seconds). */
  ttlMs: number;
}

let counter = 0;
const fresh = (): string => `t${process.pid}-${Date.now()}-${counter++}/`;

/** The Store contract, run against every backend so that they behave alike. */
export function storeConformance(opts: ConformanceOptions): void {
  const withStores = async (fn: (a: Store, b: Store, p: string) => Promise<void>): Promise<void> => {
    const { a, b, done } = await opts.open();
    try {
      await fn(a, b, fresh());
    } finally {
      await done();
    }
  };

  it('get/set/delete round-trip, and absent keys read as undefined', () =>
    withStores(async (a, b, p) => {
      assert.equal(await a.get(`${p}x`), undefined);
      await a.set(`${p}x`, 'hello ✓');
      assert.equal(await b.get(`${p}x`), 'hello ✓');
      await b.set(`${p}x`, '');
      assert.equal(await a.get(`${p}x`), '');
      assert.equal(await a.delete(`${p}x`), true);
      assert.equal(await a.delete(`${p}x`), false);
      assert.equal(await b.get(`${p}x`), undefined);
    }));

  it('compareAndSet only swaps the expected value, undefined meaning absent', () =>
    withStores(async (a, b, p) => {
      const k = `${p}cas`;
      assert.deepEqual(await a.compareAndSet(k, undefined, 'one'), { ok: true, current: 'one' });
      assert.deepEqual(await b.compareAndSet(k, undefined, 'two'), { ok: false, current: 'one' });
      assert.deepEqual(await b.compareAndSet(k, 'zzz', 'two'), { ok: false, current: 'one' });
      assert.deepEqual(await b.compareAndSet(k, 'one', 'two'), { ok: true, current: 'two' });
      await a.delete(k);
      assert.deepEqual(await a.compareAndSet(k, 'two', 'three'), { ok: false, current: undefined });
    }));

  it('compareAndSet is atomic under contention: exactly one of many racers wins', () =>
    withStores(async (a, b, p) => {
      const k = `${p}race`;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).compareAndSet(k, undefined, `r${i}`)));
      assert.equal(results.filter((r) => r.ok).length, 1);
      const winner = results.find((r) => r.ok)?.current;
      for (const r of results) assert.equal(r.current, winner);
    }));

  it('add counts atomically from two clients and starts at 0', () =>
    withStores(async (a, b, p) => {
      const k = `${p}n`;
      const all = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).add(k, 1)));
      assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1));
      assert.equal(await a.add(k, -10), 20);
      assert.equal(await b.get(k), '20');
      await a.set(`${p}text`, 'abc');
      await assert.rejects(a.add(`${p}text`, 1), ConfigurationError);
    }));

  it('keys(prefix) lists only that prefix, sorted', () =>
    withStores(async (a, _b, p) => {
      await a.set(`${p}k/b`, '1');
      await a.set(`${p}k/a`, '1');
      await a.set(`${p}k/c/d`, '1');
      await a.set(`${p}other`, '1');
      assert.deepEqual(await a.keys(`${p}k/`), [`${p}k/a`, `${p}k/b`, `${p}k/c/d`]);
      assert.deepEqual(await a.keys(`${p}nothing/`), []);
    }));

  it('wait resolves when another client sets the keys, without polling delay', () =>
    withStores(async (a, b, p) => {
      await a.set(`${p}w1`, 'already');
      const started = Date.now();
      const waiting = a.wait([`${p}w1`, `${p}w2`, `${p}w3`], 10_000);
      await sleep(100);
      await b.set(`${p}w2`, 'x');
      await b.set(`${p}w3`, 'y');
      await waiting;
      assert.ok(Date.now() - started < 5_000);
      await a.wait([`${p}w1`], 0); // present keys resolve even with no time to wait
    }));

  it('wait rejects with DistributedSetupError naming the missing keys after its timeout', () =>
    withStores(async (a, b, p) => {
      await b.set(`${p}here`, '1');
      const started = Date.now();
      await assert.rejects(a.wait([`${p}here`, `${p}never`], 300), (err: unknown) => {
        assert.ok(err instanceof DistributedSetupError);
        assert.match(err.message, new RegExp(`${p}never`));
        assert.doesNotMatch(err.problem, new RegExp(`${p}here`));
        return true;
      });
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 5_000, `took ${took} ms`);
    }));

  it('a key set with a TTL disappears after it, and a refresh keeps it alive', () =>
    withStores(async (a, b, p) => {
      const ttl = opts.ttlMs;
      await a.set(`${p}ttl`, 'v', { ttlMs: ttl });
      await a.set(`${p}kept`, 'v', { ttlMs: ttl });
      await a.set(`${p}forever`, 'v');
      assert.equal(await b.get(`${p}ttl`), 'v');
      const until = Date.now() + ttl * 2.5;
      while (Date.now() < until) {
        await sleep(ttl / 4);
        await a.set(`${p}kept`, 'v', { ttlMs: ttl });
      }
      assert.equal(await b.get(`${p}ttl`), undefined);
      assert.deepEqual(await b.keys(p), [`${p}forever`, `${p}kept`]);
      // Setting without a TTL makes a key permanent again.
      await a.set(`${p}kept`, 'w');
      await sleep(ttl * 1.6);
      assert.equal(await b.get(`${p}kept`), 'w');
    }));

  it('add keeps a TTL key\'s expiry (a counter bump is not a liveness refresh)', () =>
    withStores(async (a, b, p) => {
      const ttl = opts.ttlMs;
      await a.set(`${p}c`, '5', { ttlMs: ttl });
      assert.equal(await b.add(`${p}c`, 2), 7);
      assert.equal(await a.get(`${p}c`), '7');
      await sleep(ttl * 2.2);
      assert.equal(await a.get(`${p}c`), undefined);
    }));

  it('bad arguments are ConfigurationErrors, not silent misbehaviour', () =>
    withStores(async (a) => {
      await assert.rejects(async () => a.get(''), ConfigurationError);
      await assert.rejects(async () => a.set('k', 1 as unknown as string), ConfigurationError);
      await assert.rejects(async () => a.set('k', 'v', { ttlMs: -1 }), ConfigurationError);
      await assert.rejects(async () => a.wait(['k'], -5), ConfigurationError);
      await assert.rejects(async () => a.add('k', 0.5), ConfigurationError);
    }));
}
