import { ConfigurationError } from '../errors/index.js';
import type { CompareAndSetResult, SetOptions, Store } from './store.js';

/**
 * A view of a store under a key prefix: `get('addr/0')` reads `<prefix>/addr/0`. Lets a round's
 * workers use short keys without ever reading another round's (stale) values.
 * Closing the view does not close the underlying store unless `ownsStore` is set.
 */
export class PrefixStore implements Store {
  readonly prefix: string;

  constructor(
    readonly inner: Store,
    prefix: string,
    private readonly ownsStore = false,
  ) {
    if (typeof prefix !== 'string' || prefix.length === 0) throw new ConfigurationError('PrefixStore needs a non-empty prefix');
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  private k(key: string): string {
    if (typeof key !== 'string' || key.length === 0) throw new ConfigurationError(`Store key must be a non-empty string, got ${JSON.stringify(key)}`);
    return this.prefix + key;
  }

  get(key: string): Promise<string | undefined> {
    return this.inner.get(this.k(key));
  }

  set(key: string, value: string, options?: SetOptions): Promise<void> {
    return this.inner.set(this.k(key), value, options);
  }

  compareAndSet(key: string, expected: string | undefined, desired: string, options?: SetOptions): Promise<CompareAndSetResult> {
    return this.inner.compareAndSet(this.k(key), expected, desired, options);
  }

  add(key: string, delta: number): Promise<number> {
    return this.inner.add(this.k(key), delta);
  }

  async wait(keys: string[], timeoutMs: number): Promise<void> {
    if (!Array.isArray(keys)) throw new ConfigurationError(`wait() takes an array of keys, got ${typeof keys}`);
    return this.inner.wait(keys.map((key) => this.k(key)), timeoutMs);
  }

  delete(key: string): Promise<boolean> {
    return this.inner.delete(this.k(key));
  }

  async keys(prefix: string): Promise<string[]> {
    const all = await this.inner.keys(this.prefix + prefix);
    return all.map((key) => key.slice(this.prefix.length));
  }

  /** A narrower view: `scope('a').scope('b')` reads `<prefix>/a/b/...`. */
  scope(sub: string): PrefixStore {
    return new PrefixStore(this.inner, this.prefix + sub);
  }

  async close(): Promise<void> {
    if (this.ownsStore) await this.inner.close();
  }
}
