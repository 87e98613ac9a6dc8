/**
 * What a round needs besides the store (torch's `_rendezvous` and `_set_master_addr_port`): the rendezvous
 * this agent joins rounds through, the address other nodes reach it at, and the MASTER_ADDR/MASTER_PORT
 * rank 0's node picks for the round.
 */
import net from 'node:net';
import os from 'node:os';
import { z } from 'zod';
import { DistributedSetupError } from '../errors/index.js';
import { StaticRendezvous, type AgentRendezvous, type RoundInfo } from './agent-rendezvous.js';
import type { AgentSignals } from './agent-signals.js';
import type { ElasticTrainingConfig } from './config.js';
import { parseStored } from './job-record.js';
import { isLocalHost, type AgentStore } from './store-setup.js';

export interface RendezvousFactoryOptions {
  config: ElasticTrainingConfig;
  nodeId: string;
  addr: string;
}

export type RendezvousFactory = (store: AgentStore, o: RendezvousFactoryOptions) => Promise<AgentRendezvous> | AgentRendezvous;

/** The address other nodes reach this one at. */
export function nodeAddr(c: ElasticTrainingConfig): string {
  if (c.localAddr !== undefined) return c.localAddr;
  if (c.singleNode) return '127.0.0.1';
  const host = c.rdzvEndpoint.replace(/:\d+$/, '').replace(/^https?:\/\//, '').replace(/^\[|\]$/g, '');
  return isLocalHost(host) && (host.startsWith('127.') || host === 'localhost' || host === '::1') ? '127.0.0.1' : os.hostname();
}

export async function makeRendezvous(s: AgentStore, c: ElasticTrainingConfig, nodeId: string, factory?: RendezvousFactory): Promise<AgentRendezvous> {
  const addr = nodeAddr(c);
  if (c.singleNode || c.rdzvBackend === 'static') {
    const nodeRank = c.singleNode ? 0 : c.nodeRank;
    if (nodeRank === undefined) throw new DistributedSetupError('--rdzv-backend static needs --node-rank for every node');
    return new StaticRendezvous(s.store, { runId: c.rdzvId, nodeCount: c.minNodes, nodeRank, nodeId, addr, joinTimeoutMs: c.rdzvConf.joinTimeout * 1000 });
  }
  if (factory !== undefined) return factory(s, { config: c, nodeId, addr });
  const { createDynamicRendezvous } = await import('./dynamic-rendezvous.js');
  return createDynamicRendezvous(s, { config: c, nodeId, addr });
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: host === '' ? '0.0.0.0' : host, port: 0 }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const masterSchema = z.object({ addr: z.string().min(1), port: z.number().int().min(1).max(65535) });

/** Rank 0's node picks MASTER_PORT (kept free for a PyTorch rank 0's own store) and publishes it for the round. */
export async function agreeMaster(s: AgentStore, info: RoundInfo, joinTimeoutMs: number, signals: AgentSignals): Promise<{ masterAddr: string; masterPort: number }> {
  const key = `${info.storePrefix}/eh/master`;
  const rank0 = info.participants.find((p) => p.rank === 0) ?? info.participants[0];
  if (info.nodeRank === 0) {
    const port = await freePort(rank0.addr);
    if (info.nodeCount > 1) await signals.interruptible(s.store.set(key, JSON.stringify({ addr: rank0.addr, port })));
    return { masterAddr: rank0.addr, masterPort: port };
  }
  await signals.interruptible(s.store.wait([key], joinTimeoutMs));
  const raw = await signals.interruptible(s.store.get(key));
  if (raw === undefined) throw new DistributedSetupError(`the master address of round ${info.round} vanished from the store`);
  const v = parseStored(key, raw, masterSchema);
  return { masterAddr: v.addr, masterPort: v.port };
}
