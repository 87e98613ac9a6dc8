import { DistributedSetupError } from '../errors/index.js';
import { StoreTimeoutError } from './errors.js';
import type { CompareAndSetResult, SetOptions, Store } from './store.js';
import { MAX_TIMER_MS, checkDelta, checkKey, checkKeys, checkTimeout, checkTtl, checkValue, parseCounter } from './validate.js';

interface Entry {
  value: string;
  expiresAt?: number;
  timer?: NodeJS.Timeout;
}

interface Waiter {
  missing: Set<string>;
  resolve: () => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

/**
 * The store's data in one process: what the TCP store server serves, and what the agent hosting it
 * uses directly. Expiry is checked on every read (exact) and by one timer per key (so waiters and
 * memory do not depend on someone reading).
 */
export class MemoryStore implements Store {
  private readonly data = new Map<string, Entry>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private closed = false;

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return this.getSync(key);
  }

  getSync(key: string): string | undefined {
    return this.live(key)?.value;
  }

  async set(key: string, value: string, options?: SetOptions): Promise<void> {
    this.setSync(key, value, options);
  }

  setSync(key: string, value: string, options?: SetOptions): void {
    this.checkOpen();
    checkKey(key);
    checkValue(value, key);
    const ttl = checkTtl(options, key);
    const old = this.data.get(key);
    if (old?.timer !== undefined) clearTimeout(old.timer);
    const entry: Entry = { value };
    if (ttl !== undefined) {
      entry.expiresAt = Date.now() + ttl;
      entry.timer = setTimeout(() => this.expire(key), Math.min(ttl, MAX_TIMER_MS));
      entry.timer.unref();
    }
    this.data.set(key, entry);
    this.wake(key);
  }

  async compareAndSet(key: string, expected: string | undefined, desired: string, options?: SetOptions): Promise<CompareAndSetResult> {
    return this.compareAndSetSync(key, expected, desired, options);
  }

  compareAndSetSync(key: string, expected: string | undefined, desired: string, options?: SetOptions): CompareAndSetResult {
    checkKey(key);
    if (expected !== undefined) checkValue(expected, key);
    checkValue(desired, key);
    checkTtl(options, key);
    const current = this.live(key)?.value;
    if (current !== expected) return { ok: false, current };
    this.setSync(key, desired, options);
    return { ok: true, current: desired };
  }

  async add(key: string, delta: number): Promise<number> {
    return this.addSync(key, delta);
  }

  addSync(key: string, delta: number): number {
    checkKey(key);
    checkDelta(delta, key);
    const entry = this.live(key);
    const next = parseCounter(entry?.value, key) + delta;
    // A counter keeps its expiry: add() is not a liveness refresh.
    const ttl = entry?.expiresAt !== undefined ? Math.max(1, entry.expiresAt - Date.now()) : undefined;
    this.setSync(key, String(next), ttl === undefined ? undefined : { ttlMs: ttl });
    return next;
  }

  wait(keys: string[], timeoutMs: number): Promise<void> {
    return this.waitCancellable(keys, timeoutMs).promise;
  }

  /** wait() with a cancel function, so the server can drop the waiters of a client that went away. */
  waitCancellable(keys: string[], timeoutMs: number): { promise: Promise<void>; cancel: (reason: Error) => void } {
    let cancel: (reason: Error) => void = () => undefined;
    const promise = new Promise<void>((resolve, reject) => {
      this.checkOpen();
      checkKeys(keys);
      checkTimeout(timeoutMs, 'wait() timeoutMs');
      const missing = new Set(keys.filter((k) => this.live(k) === undefined));
      if (missing.size === 0) {
        resolve();
        return;
      }
      const waiter: Waiter = { missing, resolve, reject };
      const done = (): void => {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer);
        for (const k of waiter.missing) this.waiters.get(k)?.delete(waiter);
        for (const k of keys) {
          const set = this.waiters.get(k);
          if (set !== undefined && set.size === 0) this.waiters.delete(k);
        }
      };
      waiter.resolve = () => {
        done();
        resolve();
      };
      waiter.reject = (err) => {
        done();
        reject(err);
      };
      for (const k of missing) {
        let set = this.waiters.get(k);
        if (set === undefined) this.waiters.set(k, (set = new Set()));
        set.add(waiter);
      }
      if (Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          const left = [...waiter.missing].sort();
          waiter.reject(new StoreTimeoutError(`Timed out after ${timeoutMs} ms waiting for store keys: ${left.join(', ')}`, left, { context: { timeoutMs } }));
        }, Math.min(timeoutMs, MAX_TIMER_MS));
      }
      cancel = (reason) => waiter.reject(reason);
    });
    return { promise, cancel };
  }

  async delete(key: string): Promise<boolean> {
    return this.deleteSync(key);
  }

  deleteSync(key: string): boolean {
    checkKey(key);
    const entry = this.live(key);
    if (entry === undefined) return false;
    this.drop(key, entry);
    return true;
  }

  async keys(prefix: string): Promise<string[]> {
    return this.keysSync(prefix);
  }

  keysSync(prefix: string): string[] {
    if (typeof prefix !== 'string') checkKey(prefix, 'prefix');
    const out: string[] = [];
    for (const k of [...this.data.keys()]) {
      if (k.startsWith(prefix) && this.live(k) !== undefined) out.push(k);
    }
    return out.sort();
  }

  /** Number of live keys (for tests and diagnostics). */
  get size(): number {
    return this.keysSync('').length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.data.values()) if (entry.timer !== undefined) clearTimeout(entry.timer);
    this.data.clear();
    const err = new DistributedSetupError('The store was closed while waiting for keys');
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.reject(err);
    this.waiters.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new DistributedSetupError('The store is closed', { suggestions: ['Create a new store; a closed one cannot be reused.'] });
  }

  private live(key: string): Entry | undefined {
    const entry = this.data.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.drop(key, entry);
      return undefined;
    }
    return entry;
  }

  private expire(key: string): void {
    // live() drops the entry when its time has come; a timer that fires early re-arms nothing,
    // because the next read checks expiresAt anyway.
    const entry = this.data.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) this.drop(key, entry);
    else if (entry?.expiresAt !== undefined) {
      entry.timer = setTimeout(() => this.expire(key), Math.min(Math.max(1, entry.expiresAt - Date.now()), MAX_TIMER_MS));
      entry.timer.unref();
    }
  }

  private drop(key: string, entry: Entry): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    this.data.delete(key);
  }

  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (set === undefined) return;
    for (const w of [...set]) {
      w.missing.delete(key);
      set.delete(w);
      if (w.missing.size === 0) w.resolve();
    }
    if (set.size === 0) this.waiters.delete(key);
  }
}
