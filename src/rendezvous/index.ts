/**
 * Store and rendezvous: the key-value store every part of a job coordinates through (embedded TCP
 * store or etcd v3), and rendezvous rounds over it.
 */
export type { Store, SetOptions, CompareAndSetResult } from './store.js';
export { StoreTimeoutError, StoreUnavailableError } from './errors.js';
export { MemoryStore } from './memory-store.js';
export { PrefixStore } from './prefix-store.js';
export { TcpStoreServer, type TcpStoreServerOptions } from './tcp-store-server.js';
export { TcpStore, type TcpStoreConnectOptions } from './tcp-store.js';
export { generateToken, hashToken, tokensEqual } from './token.js';
export { parseEndpoint, formatEndpoint, type HostPort } from './endpoint.js';
export { stderrLogger, type StoreLogger } from './logger.js';
export { EtcdStore, type EtcdStoreOptions } from './etcd-store.js';
export { createStore, connectStoreFromEnv, etcdNamespace, etcdOptionsFromEnv, type CreateStoreOptions, type StoreHandle, type StoreBackend } from './factory.js';
export {
  RendezvousHandler,
  RENDEZVOUS_DEFAULTS,
  type RendezvousParams,
  type RendezvousInfo,
  type RendezvousParticipant,
} from './rendezvous-handler.js';
export { type RendezvousState, type ParticipantEntry } from './rendezvous-state.js';
