/**
 * A TCP store client that outlives its connection. A TcpStore is one connection: once it is lost (a
 * network outage, the heartbeat found the host silent) every call on it fails for good. This one opens
 * a new connection, with the token check, at the next call after a loss, so that an agent cut off for
 * a few seconds carries on once the network is back. Calls made while the store cannot be reached fail
 * with StoreUnavailableError (the caller decides how long to keep trying); a call in flight when the
 * connection drops is not repeated here, since only its caller knows whether repeating it is safe.
 */
import type { CompareAndSetResult, SetOptions, Store } from './store.js';
import { TcpStore, type TcpStoreConnectOptions } from './tcp-store.js';

/** How long one reconnect may take before the call that wanted it fails (the caller retries). */
const RECONNECT_TIMEOUT_MS = 3_000;

export class ReconnectingTcpStore implements Store {
  private current: TcpStore;
  private connecting: Promise<TcpStore> | undefined;
  private closed = false;

  private constructor(
    first: TcpStore,
    private readonly options: Omit<TcpStoreConnectOptions, 'signal'>,
  ) {
    this.current = first;
  }

  static async connect(options: TcpStoreConnectOptions): Promise<ReconnectingTcpStore> {
    const { signal: _signal, ...rest } = options;
    return new ReconnectingTcpStore(await TcpStore.connect(options), rest);
  }

  get endpoint(): string {
    return this.current.endpoint;
  }

  private async client(): Promise<TcpStore> {
    if (!this.current.isClosed || this.closed) return this.current;
    this.connecting ??= TcpStore.connect({ ...this.options, timeoutMs: RECONNECT_TIMEOUT_MS })
      .then((s) => {
        if (this.closed) void s.close();
        else this.current = s;
        return s;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.client()).get(key);
  }
  async set(key: string, value: string, options?: SetOptions): Promise<void> {
    return (await this.client()).set(key, value, options);
  }
  async compareAndSet(key: string, expected: string | undefined, desired: string, options?: SetOptions): Promise<CompareAndSetResult> {
    return (await this.client()).compareAndSet(key, expected, desired, options);
  }
  async add(key: string, delta: number): Promise<number> {
    return (await this.client()).add(key, delta);
  }
  async wait(keys: string[], timeoutMs: number): Promise<void> {
    return (await this.client()).wait(keys, timeoutMs);
  }
  async delete(key: string): Promise<boolean> {
    return (await this.client()).delete(key);
  }
  async keys(prefix: string): Promise<string[]> {
    return (await this.client()).keys(prefix);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    await this.current.close();
  }
}
