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
import { createStore, generateToken, parseEndpoint, type Store } from '../rendezvous/index.js';
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

/** Set up the agent's store; `signal` stops the attempts to reach a store that is not up (yet). */
export async function setupStore(config: ElasticTrainingConfig, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<AgentStore> {
  if (config.singleNode) {
    const token = resolveToken(config, env, false);
    const h = await createStore({ backend: 'tcp', endpoint: '127.0.0.1:0', host: true, token, logger: () => undefined });
    return { store: h, backend: 'tcp', endpoint: h.endpoint, token, hosting: true, close: () => h.close() };
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
    const h = await createStore({ backend: 'etcd', endpoint: config.rdzvEndpoint, token, runId: config.rdzvId, timeoutMs: joinMs, signal });
    return { store: h, backend: 'etcd', endpoint: config.rdzvEndpoint, token, hosting: false, close: () => h.close() };
  }
  const { host, port } = parseEndpoint(config.rdzvEndpoint);
  let hosting = config.rdzvConf.isHost;
  if (hosting === undefined) hosting = isLocalHost(host) && (await portFree(LOOPBACK.has(host) ? host : '0.0.0.0', port));
  if (hosting) {
    const listen = LOOPBACK.has(host) ? config.rdzvEndpoint : `0.0.0.0:${port}`;
    try {
      const h = await createStore({ backend: 'tcp', endpoint: listen, host: true, token });
      return { store: h, backend: 'tcp', endpoint: config.rdzvEndpoint, token, hosting: true, close: () => h.close() };
    } catch (err) {
      // Another agent of this machine took the port first: it hosts, this one connects.
      if (config.rdzvConf.isHost === true) throw err;
    }
  }
  try {
    const h = await createStore({ backend: 'tcp', endpoint: config.rdzvEndpoint, token, timeoutMs: joinMs, signal });
    return { store: h, backend: 'tcp', endpoint: config.rdzvEndpoint, token, hosting: false, close: () => h.close() };
  } catch (err) {
    if (err instanceof DistributedSetupError || signal?.aborted === true) throw err;
    throw new DistributedSetupError(`Could not reach the store at ${config.rdzvEndpoint}: ${describeError(err)}`, { cause: err });
  }
}
