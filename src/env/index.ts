/**
 * The worker environment contract: the variable names an agent gives each worker. It sits below the
 * rendezvous, the collective and the agent, so that each reads the same names without importing another.
 */
export * from './contract.js';
