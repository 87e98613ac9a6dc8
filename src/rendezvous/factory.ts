import { readFileSync } from 'node:fs';
import { requireStoreEnv } from '../env/index.js';
import { ConfigurationError } from '../errors/index.js';
import { EtcdStore, type EtcdStoreOptions } from './etcd-store.js';
import { formatEndpoint, parseEndpoint } from './endpoint.js';
import type { StoreLogger } from './logger.js';
import { PrefixStore } from './prefix-store.js';
import type { CompareAndSetResult, SetOptions, Store } from './store.js';
import { ReconnectingTcpStore } from './reconnecting-store.js';
import { TcpStoreServer } from './tcp-store-server.js';

export type StoreBackend = 'tcp' | 'etcd';

export interface CreateStoreOptions {
  backend: StoreBackend;
  /** tcp: `host:port` of the hosting agent (when hosting: where to listen, port 0 for a free one). etcd: a client endpoint, or several comma-separated. */
  endpoint: string;
  token: string;
  /** tcp only: host the TcpStoreServer in this process (and use its data directly). */
  host?: boolean;
  /** etcd only: the job's run id; keys live under `eh/<runId>/` (the agent and `connectStoreFromEnv` agree on it). Default "default". */
  runId?: string;
  /** How long to keep trying to reach the store; default 30 s. */
  timeoutMs?: number;
  /** Bound on each call other than wait(); defaults per backend. */
  requestTimeoutMs?: number;
  /** tcp host: where refusals are logged (default stderr). */
  logger?: StoreLogger;
  /** etcd only: etcd's own authentication and TLS. */
  etcd?: Pick<EtcdStoreOptions, 'auth' | 'credentials'>;
  /** Stop trying to reach the store when this aborts (the call rejects with its reason). */
  signal?: AbortSignal;
}

/** A store with what was needed to reach it: `endpoint` is what workers should be given. */
export interface StoreHandle extends Store {
  readonly backend: StoreBackend;
  readonly endpoint: string;
  /** The hosted server, when this process hosts the TCP store. */
  readonly server?: TcpStoreServer;
}

/** The etcd namespace of a job (shared by agents and workers). */
export function etcdNamespace(runId: string): string {
  return `eh/${runId}/`;
}

class Handle implements StoreHandle {
  constructor(
    readonly backend: StoreBackend,
    readonly endpoint: string,
    private readonly inner: Store,
    private readonly onClose: () => Promise<void>,
    readonly server?: TcpStoreServer,
  ) {}

  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }
  set(key: string, value: string, options?: SetOptions): Promise<void> {
    return this.inner.set(key, value, options);
  }
  compareAndSet(key: string, expected: string | undefined, desired: string, options?: SetOptions): Promise<CompareAndSetResult> {
    return this.inner.compareAndSet(key, expected, desired, options);
  }
  add(key: string, delta: number): Promise<number> {
    return this.inner.add(key, delta);
  }
  wait(keys: string[], timeoutMs: number): Promise<void> {
    return this.inner.wait(keys, timeoutMs);
  }
  delete(key: string): Promise<boolean> {
    return this.inner.delete(key);
  }
  keys(prefix: string): Promise<string[]> {
    return this.inner.keys(prefix);
  }
  close(): Promise<void> {
    return this.onClose();
  }
}

/** Open (or, for `tcp` with `host`, start and open) the job's store. */
export async function createStore(options: CreateStoreOptions): Promise<StoreHandle> {
  const { backend } = options;
  if (backend === 'tcp') {
    if (options.host === true) {
      const { host, port } = parseEndpoint(options.endpoint, true);
      const server = await TcpStoreServer.start({ host, port, token: options.token, logger: options.logger });
      const endpoint = port === 0 ? formatEndpoint(host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, server.port) : options.endpoint;
      return new Handle('tcp', endpoint, server.store, () => server.close(), server);
    }
    // Reconnects after a lost connection, so that a network outage is not the end of the client.
    const store = await ReconnectingTcpStore.connect({ endpoint: options.endpoint, token: options.token, timeoutMs: options.timeoutMs, requestTimeoutMs: options.requestTimeoutMs, signal: options.signal });
    return new Handle('tcp', options.endpoint, store, () => store.close());
  }
  if (backend === 'etcd') {
    if (options.host === true) throw new ConfigurationError('host=true applies to the tcp backend only: etcd runs on its own', { configKey: 'rdzv_conf.is_host' });
    const endpoints = options.endpoint.split(',').map((e) => e.trim()).filter((e) => e !== '');
    const store = await EtcdStore.connect({
      endpoints,
      token: options.token,
      namespace: etcdNamespace(options.runId ?? 'default'),
      timeoutMs: options.timeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
      signal: options.signal,
      ...options.etcd,
    });
    return new Handle('etcd', options.endpoint, store, () => store.close());
  }
  throw new ConfigurationError(`Unknown store backend ${JSON.stringify(backend)}: use "tcp" or "etcd"`, { configKey: 'rdzv_backend' });
}

/**
 * etcd credentials from etcdctl's own environment variables, so a user's etcdctl set-up carries over:
 * ETCDCTL_USER (`name:password`), ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY (PEM files).
 */
export function etcdOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Pick<EtcdStoreOptions, 'auth' | 'credentials'> {
  const out: Pick<EtcdStoreOptions, 'auth' | 'credentials'> = {};
  const user = env.ETCDCTL_USER;
  if (user !== undefined && user !== '') {
    const colon = user.indexOf(':');
    if (colon <= 0) throw new ConfigurationError('ETCDCTL_USER must be "name:password"', { configKey: 'ETCDCTL_USER' });
    out.auth = { username: user.slice(0, colon), password: user.slice(colon + 1) };
  }
  const read = (name: string): Buffer | undefined => {
    const file = env[name];
    if (file === undefined || file === '') return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigurationError(`${name}=${file} cannot be read: ${(err as Error).message}`, { configKey: name });
    }
  };
  const ca = read('ETCDCTL_CACERT');
  const cert = read('ETCDCTL_CERT');
  const key = read('ETCDCTL_KEY');
  if (ca !== undefined) {
    out.credentials = { rootCertificate: ca };
    if (cert !== undefined) out.credentials.certChain = cert;
    if (key !== undefined) out.credentials.privateKey = key;
  } else if (cert !== undefined || key !== undefined) {
    throw new ConfigurationError('ETCDCTL_CERT / ETCDCTL_KEY need ETCDCTL_CACERT too (the CA that signed etcd\'s certificate)', { configKey: 'ETCDCTL_CACERT' });
  }
  return out;
}

/**
 * The store as a worker sees it: reads the environment its agent set (EH_STORE_BACKEND,
 * EH_STORE_ENDPOINT, EH_TOKEN, EH_STORE_PREFIX; for etcd also TORCHELASTIC_RUN_ID and etcdctl's
 * ETCDCTL_USER / ETCDCTL_CACERT / ETCDCTL_CERT / ETCDCTL_KEY) and returns a store
 * scoped to the round's prefix, so that a restarted group never reads a previous round's keys.
 * Closing it closes the connection.
 */
export async function connectStoreFromEnv(options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Store> {
  const env = options.env ?? process.env;
  const s = requireStoreEnv(env, 'Connecting a worker to its job store');
  const store = await createStore({
    backend: s.backend,
    endpoint: s.endpoint as string,
    token: s.token,
    runId: s.runId,
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(s.backend === 'etcd' ? { etcd: etcdOptionsFromEnv(env) } : {}),
  });
  return s.prefix === undefined ? store : new PrefixStore(store, s.prefix, true);
}
