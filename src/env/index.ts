/**
 * The worker environment contract: the variable names an agent gives each worker, and the one parser
 * of them. It sits below the rendezvous, the collective and the agent, so that each reads the same
 * names, by the same rules, without importing another.
 */
export * from './contract.js';
export { getWorldInfo, readStoreEnv, requireStoreEnv, REQUIRED_WORLD_ENV, type WorldInfo, type StoreEnv } from './world.js';
export { detectHostId, hostIdFrom } from './host-identity.js';
export { REQUEUE_EXIT_CODE } from './exit-codes.js';
