import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, type IOptions, type Lease, type Namespace, type Watcher } from 'etcd3';
import { ConfigurationError, DistributedSetupError, ElasticTrainingError, describeError } from '../errors/index.js';
import { StoreTimeoutError, StoreUnavailableError } from './errors.js';
import type { CompareAndSetResult, SetOptions, Store } from './store.js';
import { checkToken, hashToken, tokensEqual } from './token.js';
import { MAX_TIMER_MS, checkDelta, checkKey, checkKeys, checkTimeout, checkTtl, checkValue, parseCounter } from './validate.js';

export interface EtcdStoreOptions {
  /** One or more etcd client endpoints: `host:port` or `http(s)://host:port`. */
  endpoints: string | string[];
  /** The job's token; its hash is recorded under the namespace at first use and checked after. */
  token: string;
  /** Key namespace, normally `eh/<run id>/`: data lives under `<namespace>kv/`, the token hash at `<namespace>token`. */
  namespace?: string;
  /** How long to keep trying to reach etcd at connect; default 30 s. */
  timeoutMs?: number;
  /** Bound on each etcd call (and on a watch left disconnected); default 10 s. */
  requestTimeoutMs?: number;
  /** etcd's own authentication (`etcdctl user add`): the real access control of an etcd store. */
  auth?: { username: string; password: string };
  /** TLS to etcd (https endpoints): CA, and client certificate and key for mutual TLS. */
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  /** Stop trying to connect when this aborts (the connect rejects with its reason). */
  signal?: AbortSignal;
}

interface HeldLease {
  ttlSeconds: number;
  lease: Lease;
}

/**
 * Store over etcd v3 (through `etcd3`, gRPC; never the v2 API that broke torch's backend).
 * compareAndSet is one transaction, add a compare-and-set loop on the key's revision, TTLs are
 * leases (one per key, kept by this client and refreshed on each set), wait is watch + get.
 * etcd leases count whole seconds, so a TTL is rounded up to the next second.
 */
export class EtcdStore implements Store {
  private readonly leases = new Map<string, HeldLease>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    private readonly kv: Namespace,
    readonly namespace: string,
    readonly endpoints: string[],
    private readonly requestTimeoutMs: number,
  ) {}

  static async connect(options: EtcdStoreOptions): Promise<EtcdStore> {
    checkToken(options.token, 'EtcdStore.connect');
    const endpoints = (Array.isArray(options.endpoints) ? options.endpoints : [options.endpoints]).map(normalizeEndpoint);
    if (endpoints.length === 0) throw new ConfigurationError('EtcdStore needs at least one endpoint', { configKey: 'rdzv_endpoint' });
    const namespace = options.namespace ?? 'elastic-harness/';
    if (namespace.length === 0) throw new ConfigurationError('EtcdStore namespace must not be empty: give every job its own, e.g. eh/<run id>/');
    const timeoutMs = checkTimeout(options.timeoutMs ?? 30_000, 'EtcdStore.connect timeoutMs');
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const clientOptions: IOptions = {
      hosts: endpoints,
      dialTimeout: Math.min(requestTimeoutMs, Math.max(timeoutMs, 1)),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
      // etcd3's default watch backoff grows to 30 s, and its timer holds the process open that long
      // after etcd went away; a wait gives up after requestTimeoutMs anyway.
      faultHandling: { watchBackoff: constantBackoff(Math.min(250, requestTimeoutMs)) },
      // HTTP/2 pings find a frozen or vanished etcd while a watch is open (no call deadline covers a
      // watch). etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
      grpcOptions: { 'grpc.keepalive_time_ms': 5_000, 'grpc.keepalive_timeout_ms': Math.min(5_000, requestTimeoutMs), 'grpc.keepalive_permit_without_calls': 0,
        // After an outage, reconnect within a second or two of the network's return (grpc-js backs off to 120 s by default).
        'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 2_000 },
    };
    if (options.auth !== undefined) clientOptions.auth = options.auth;
    if (options.credentials !== undefined) clientOptions.credentials = options.credentials;
    const client = new Etcd3(clientOptions);
    const store = new EtcdStore(client, client.namespace(`${namespace}kv/`), namespace, endpoints, requestTimeoutMs);
    const deadline = Date.now() + timeoutMs;
    let delay = 50;
    const abort = options.signal;
    for (let attempt = 1; ; attempt++) {
      try {
        abort?.throwIfAborted();
        await store.checkJobToken(client.namespace(namespace), options.token);
        abort?.throwIfAborted();
        return store;
      } catch (err) {
        if (abort?.aborted === true) {
          client.close();
          throw abort.reason;
        }
        if (err instanceof ElasticTrainingError) {
          client.close();
          throw err;
        }
        const refusal = credentialsRefusal(err);
        if (refusal !== undefined) {
          client.close();
          throw store.refused(refusal, err);
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          client.close();
          throw new StoreUnavailableError(`Could not reach etcd at ${endpoints.join(', ')} within ${timeoutMs} ms (${attempt} attempts; last error: ${describeError(err)})`, {
            cause: err,
            context: { endpoint: endpoints.join(',') },
            suggestions: ['Check that etcd runs and listens there (etcdctl --endpoints=... endpoint health), and the credentials if etcd has auth or TLS enabled.'],
          });
        }
        await sleep(Math.min(delay, remaining), undefined, { signal: abort }).catch((e: unknown) => {
          client.close();
          throw abort?.aborted === true ? abort.reason : e;
        });
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }

  /** Record the token's hash at first use; refuse an agent whose token hashes differently. */
  private async checkJobToken(ns: Namespace, token: string): Promise<void> {
    const hash = hashToken(token);
    const res = await ns.if('token', 'Version', '==', 0).then(ns.put('token').value(hash)).else(ns.get('token')).commit();
    if (res.succeeded) return;
    const kvs = res.responses[0]?.response_range?.kvs ?? [];
    const stored = kvs[0]?.value?.toString('utf8') ?? '';
    if (!tokensEqual(stored, hash)) {
      throw new DistributedSetupError(`etcd namespace "${this.namespace}" belongs to a job with a different token: this agent's token does not match`, {
        context: { endpoint: this.endpoints.join(',') },
        suggestions: [
          'Give every agent of the job the same token (--rdzv-conf token=... or EH_TOKEN), or use a new --rdzv-id for a new job.',
          'This check only guards against mistakes: protect etcd itself with its authentication and TLS (EtcdStoreOptions.auth / credentials).',
        ],
      });
    }
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return this.op('get', async () => (await this.kv.get(key).string()) ?? undefined);
  }

  async set(key: string, value: string, options?: SetOptions): Promise<void> {
    checkKey(key);
    checkValue(value, key);
    const ttl = checkTtl(options, key);
    await this.op('set', async () => {
      if (ttl === undefined) {
        await this.kv.put(key).value(value);
        this.forgetLease(key);
        return;
      }
      const held = await this.leaseFor(key, ttl);
      await this.kv.put(key).value(value).lease(await held.lease.grant());
    });
  }

  async compareAndSet(key: string, expected: string | undefined, desired: string, options?: SetOptions): Promise<CompareAndSetResult> {
    checkKey(key);
    if (expected !== undefined) checkValue(expected, key);
    checkValue(desired, key);
    const ttl = checkTtl(options, key);
    return this.op('compareAndSet', async () => {
      const put = this.kv.put(key).value(desired);
      if (ttl !== undefined) put.lease(await (await this.leaseFor(key, ttl)).lease.grant());
      const txn = expected === undefined ? this.kv.if(key, 'Version', '==', 0) : this.kv.if(key, 'Version', '>', 0).and(key, 'Value', '==', expected);
      const res = await txn.then(put).else(this.kv.get(key)).commit();
      if (res.succeeded) {
        if (ttl === undefined) this.forgetLease(key);
        return { ok: true, current: desired };
      }
      const value = res.responses[0]?.response_range?.kvs?.[0]?.value?.toString('utf8');
      return { ok: false, current: value };
    });
  }

  async add(key: string, delta: number): Promise<number> {
    checkKey(key);
    checkDelta(delta, key);
    return this.op('add', async () => {
      for (;;) {
        const kv = (await this.kv.get(key).exec()).kvs[0];
        const current = kv?.value.toString('utf8');
        const next = parseCounter(current, key) + delta;
        // Keep an existing lease: add() is not a liveness refresh.
        const put = kv === undefined ? this.kv.put(key).value(String(next)) : this.kv.put(key).value(String(next)).ignoreLease();
        const txn = kv === undefined ? this.kv.if(key, 'Version', '==', 0) : this.kv.if(key, 'Mod', '==', kv.mod_revision);
        const done = await txn.then(put).commit();
        if (done.succeeded) return next;
      }
    });
  }

  wait(keys: string[], timeoutMs: number): Promise<void> {
    return this.op('wait', async () => {
      checkKeys(keys);
      checkTimeout(timeoutMs, 'wait() timeoutMs');
      const missing = new Set(keys);
      const watchers: Watcher[] = [];
      let settle: ((err?: Error) => void) | undefined;
      const result = new Promise<void>((resolve, reject) => {
        settle = (err) => (err === undefined ? resolve() : reject(err));
      });
      const finish = (err?: Error): void => {
        const s = settle;
        settle = undefined;
        s?.(err);
      };
      const timers: NodeJS.Timeout[] = [];
      try {
        // Watch first, then read: a key set between the two is seen by one or the other.
        // allSettled: if one watch cannot be created, the others still end up in `watchers` to be cancelled.
        const created = await Promise.allSettled(
          [...new Set(keys)].map(async (key) => {
            const w = await this.kv.watch().key(key).only('put').create();
            watchers.push(w);
            let lostTimer: NodeJS.Timeout | undefined;
            w.on('put', () => {
              missing.delete(key);
              if (missing.size === 0) finish();
            });
            w.on('disconnected', () => {
              lostTimer ??= setTimeout(() => finish(this.lost('wait', 'the watch stream was disconnected and did not come back')), this.requestTimeoutMs);
              timers.push(lostTimer);
            });
            w.on('connected', () => {
              if (lostTimer !== undefined) clearTimeout(lostTimer);
              lostTimer = undefined;
            });
            w.on('error', (err) => finish(this.lost('wait', describeError(err))));
          }),
        );
        const failed = created.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        const present = await Promise.all([...missing].map(async (k) => ((await this.kv.get(k).string()) === null ? undefined : k)));
        for (const k of present) if (k !== undefined) missing.delete(k);
        if (missing.size === 0) finish();
        else if (Number.isFinite(timeoutMs)) {
          timers.push(
            setTimeout(() => {
              const left = [...missing].sort();
              finish(new StoreTimeoutError(`Timed out after ${timeoutMs} ms waiting for store keys: ${left.join(', ')}`, left, { context: { timeoutMs } }));
            }, Math.min(timeoutMs, MAX_TIMER_MS)),
          );
        }
        await result;
      } finally {
        for (const t of timers) clearTimeout(t);
        // Not awaited: on a frozen etcd a cancel never completes, and the answer matters to nobody.
        for (const w of watchers) w.cancel().catch(() => undefined);
      }
    });
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return this.op('delete', async () => {
      const res = await this.kv.delete().key(key);
      this.forgetLease(key);
      return Number(res.deleted) > 0;
    });
  }

  async keys(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new ConfigurationError(`keys() prefix must be a string, got ${typeof prefix}`);
    return this.op('keys', async () => {
      const all = prefix === '' ? await this.kv.getAll().keys() : await this.kv.getAll().prefix(prefix).keys();
      return all.sort();
    });
  }

  /**
   * Close the client. Leases are left to expire by their TTL rather than revoked, as with the TCP
   * store: a key's liveness does not depend on how its writer went away.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const held of this.leases.values()) held.lease.release();
    this.leases.clear();
    this.client.close();
  }

  private async leaseFor(key: string, ttlMs: number): Promise<HeldLease> {
    const ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
    const held = this.leases.get(key);
    if (held !== undefined && held.ttlSeconds === ttlSeconds && !held.lease.revoked()) {
      try {
        // keepaliveOnce is a stream, which no default deadline covers: bound it well inside the TTL,
        // or a stream stuck on a dead member would hold every later refresh back until the key lapses.
        const bound = Math.min(this.requestTimeoutMs, Math.max(250, (ttlSeconds * 1000) / 3));
        const res = await held.lease.keepaliveOnce({ deadline: Date.now() + bound });
        if (Number(res.TTL) > 0) return held;
      } catch {
        // expired, lost or slow: grant a new one below (a unary call, which fails over to another member)
      }
    }
    // Not revoked: the key is still on the old lease until the caller's put moves it to the new one,
    // and revoking now would delete it in between (a live node would look dead). Left to expire.
    if (held !== undefined) {
      this.leases.delete(key);
      held.lease.release();
    }
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: false });
    lease.on('lost', () => undefined);
    await lease.grant();
    const fresh = { ttlSeconds, lease };
    this.leases.set(key, fresh);
    return fresh;
  }

  private forgetLease(key: string): void {
    const held = this.leases.get(key);
    if (held === undefined) return;
    this.leases.delete(key);
    // The key has left this lease (deleted, or put on another): revoking it touches nothing else.
    held.lease.revoke().catch(() => undefined);
  }

  /** etcd turned our credentials down: retrying cannot help, and the message must say what to pass. */
  refused(why: string, cause: unknown): DistributedSetupError {
    return new DistributedSetupError(`etcd at ${this.endpoints.join(', ')} refused this agent's credentials: ${why}`, {
      cause,
      context: { endpoint: this.endpoints.join(',') },
      suggestions: ['This etcd has authentication enabled: pass the user and password (EtcdStoreOptions.auth, or createStore({etcd: {auth}})) of a user with read-write access to the job\'s namespace.'],
    });
  }

  private lost(op: string, why: string): StoreUnavailableError {
    return new StoreUnavailableError(`etcd at ${this.endpoints.join(', ')} failed a ${op} call: ${why}`, {
      context: { endpoint: this.endpoints.join(',') },
      suggestions: ['Check that etcd is up and reachable (etcdctl --endpoints=... endpoint health); with a cluster of 3 or 5 members the store survives the loss of any one.'],
    });
  }

  private async op<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new DistributedSetupError(`The etcd store client for ${this.endpoints.join(', ')} was closed`);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ElasticTrainingError) throw err;
      const refusal = credentialsRefusal(err);
      if (refusal !== undefined) throw this.refused(refusal, err);
      throw this.lost(name, describeError(err));
    }
  }
}

interface ConstantBackoff {
  readonly duration: number;
  next(): ConstantBackoff;
}

function constantBackoff(duration: number): ConstantBackoff {
  const b: ConstantBackoff = { duration, next: () => b };
  return b;
}

/** The reason when an etcd error is an authentication or permission refusal (etcd 3.4's messages). */
function credentialsRefusal(err: unknown): string | undefined {
  const text = describeError(err);
  const m = /user name is empty|authentication failed|invalid user ID or password|permission denied|invalid auth token|user name not found|unauthenticated/i.exec(text);
  return m === null ? undefined : text.replace(/^\d+ [A-Z_]+: (etcdserver: )?/, '');
}

function normalizeEndpoint(endpoint: string): string {
  if (typeof endpoint !== 'string' || endpoint.length === 0) throw new ConfigurationError(`etcd endpoint must be "host:port", got ${JSON.stringify(endpoint)}`, { configKey: 'rdzv_endpoint' });
  return /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
}
