/** The dynamic rendezvous (tcp, etcd backends): the rendezvous part's RendezvousHandler, set up from the launcher's config. */
import { RendezvousHandler } from '../rendezvous/index.js';
import type { AgentRendezvous } from './agent-rendezvous.js';
import type { RendezvousFactoryOptions } from './round-setup.js';
import type { AgentStore } from './store-setup.js';

export function createDynamicRendezvous(s: AgentStore, o: RendezvousFactoryOptions): AgentRendezvous {
  const c = o.config;
  return new RendezvousHandler(s.store, {
    runId: c.rdzvId,
    minNodes: c.minNodes,
    maxNodes: c.maxNodes,
    joinTimeoutMs: c.rdzvConf.joinTimeout * 1000,
    // The handler wants a positive window; 0 means "close as soon as min is reached" to a user.
    lastCallTimeoutMs: Math.max(1, c.rdzvConf.lastCallTimeout * 1000),
    closeTimeoutMs: c.rdzvConf.closeTimeout * 1000,
    keepAliveIntervalMs: c.rdzvConf.keepAliveInterval * 1000,
    keepAliveMaxAttempt: c.rdzvConf.keepAliveMaxAttempt,
    nodeId: o.nodeId,
    nodeAddr: o.addr,
  });
}
