/** The dynamic rendezvous (tcp, etcd backends) over the rendezvous part's RendezvousHandler. */
import { DistributedSetupError } from '../errors/index.js';
import type { AgentRendezvous } from './agent-rendezvous.js';
import type { RendezvousFactoryOptions } from './agent.js';
import type { AgentStore } from './store-setup.js';

export function createDynamicRendezvous(_s: AgentStore, _o: RendezvousFactoryOptions): AgentRendezvous {
  throw new DistributedSetupError('dynamic rendezvous is not available yet');
}
