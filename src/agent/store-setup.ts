/**
 * The store an agent coordinates through, and the endpoint its workers connect to:
 * - standalone / one node: a TCP store hosted in this agent on a free loopback port, with a fresh token;
 * - tcp: the agent whose endpoint is local and free (or `is_host=true`) hosts it, the others connect;
 * - etcd: every agent is a client of the etcd cluster.
 * Multi-node jobs need a shared token (--rdzv-conf token=... or EH_TOKEN).
 */
import net from 'node:net';
import os from 'node:os';
import { ConfigurationError, DistributedSetupError, describeError } from '../errors/index.js';
import { TcpStore, TcpStoreServer, generateToken, parseEndpoint, type Store } from '../rendezvous/index.js';
import type { ElasticTrainingConfig } from './config.js';

export interface AgentStore {
  store: Store;
  backend: 'tcp' | 'etcd';
  /** What workers connect to (EH_STORE_ENDPOINT). */
  endpoint: string;
  token: string;
  hosting: boolean;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '0.0.0.0']);

export function isLocalHost(host: string): boolean {
  if (LOOPBACK.has(host) || host === os.hostname()) return true;
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.address === host) return true;
  return false;
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

export function resolveToken(config: ElasticTrainingConfig, env: NodeJS.ProcessEnv, required: boolean): string {
  const token = config.rdzvConf.token ?? env.EH_TOKEN;
  if (token !== undefined && token !== '') return token;
  if (!required) return generateToken();
  throw new ConfigurationError('A multi-node job needs its shared token, and none was given', {
    configKey: 'rdzv_conf.token',
    suggestions: ['Give every agent the same secret: --rdzv-conf token=SECRET, or export EH_TOKEN=SECRET (e.g. `openssl rand -hex 32`).'],
  });
}

export async function setupStore(config: ElasticTrainingConfig, env: NodeJS.ProcessEnv): Promise<AgentStore> {
  if (config.singleNode) {
    const token = resolveToken(config, env, false);
    const server = await TcpStoreServer.start({ host: '127.0.0.1', port: 0, token, logger: () => undefined });
    return { store: server.store, backend: 'tcp', endpoint: server.endpoint, token, hosting: true, close: () => server.close() };
  }
  const joinMs = config.rdzvConf.joinTimeout * 1000;
  if (config.rdzvEndpoint === '') {
    throw new ConfigurationError(`--rdzv-backend ${config.rdzvBackend} across nodes needs --rdzv-endpoint HOST:PORT`, {
      configKey: 'rdzv_endpoint',
      suggestions: ['Use --standalone for a one-node job, or give every agent the same --rdzv-endpoint.'],
    });
  }
  const token = resolveToken(config, env, true);
  if (config.rdzvBackend === 'etcd') {
    const rendezvous = (await import('../rendezvous/index.js')) as Record<string, unknown>;
    const EtcdStore = rendezvous.EtcdStore as { connect(o: { endpoints: string[]; token: string; namespace: string; timeoutMs: number }): Promise<Store> } | undefined;
    if (EtcdStore === undefined) throw new DistributedSetupError('the etcd store is not available in this build');
    const store = await EtcdStore.connect({ endpoints: [config.rdzvEndpoint], token, namespace: `eh/${config.rdzvId}/`, timeoutMs: joinMs });
    return { store, backend: 'etcd', endpoint: config.rdzvEndpoint, token, hosting: false, close: () => store.close() };
  }
  const { host, port } = parseEndpoint(config.rdzvEndpoint);
  let host_ = config.rdzvConf.isHost;
  if (host_ === undefined) host_ = isLocalHost(host) && (await portFree(LOOPBACK.has(host) ? host : '0.0.0.0', port));
  if (host_) {
    const server = await TcpStoreServer.start({ host: LOOPBACK.has(host) ? host : '0.0.0.0', port, token });
    return { store: server.store, backend: 'tcp', endpoint: config.rdzvEndpoint, token, hosting: true, close: () => server.close() };
  }
  try {
    const store = await TcpStore.connect({ endpoint: config.rdzvEndpoint, token, timeoutMs: joinMs });
    return { store, backend: 'tcp', endpoint: config.rdzvEndpoint, token, hosting: false, close: () => store.close() };
  } catch (err) {
    if (err instanceof DistributedSetupError) throw err;
    throw new DistributedSetupError(`Could not reach the store at ${config.rdzvEndpoint}: ${describeError(err)}`, { cause: err });
  }
}
