/**
 * Node-local checkpoints (NVRx's local checkpointing): one part per rank under a local directory, written dirty
 * and committed once every rank has written, optionally replicated to peer ranks in cliques, so that a rank
 * whose disk is lost gets its part back from a clique member.
 */
export { LocalCheckpointManager, type LocalCheckpointManagerOptions, type LocalLoadResult, type LocalPartId, type FindLatestReport } from './manager.js';
export { BasicTensorAwareStateDict, type TensorAwareStateDict } from './state-dict.js';
export { CliqueReplicationStrategy, type CliqueReplicationStrategyOptions, type ReplicationStrategy } from './replication.js';
