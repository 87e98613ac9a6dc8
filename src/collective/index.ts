/**
 * Collective communication between workers: a process group over a full mesh of authenticated
 * Unix-socket (same host) and TCP (across hosts) connections, with pipelined ring allreduce,
 * broadcast, allGather, reduceScatter and barrier, that fails fast and loud instead of hanging.
 */
export {
  setupDistributedEnvironment,
  cleanupDistributed,
  isInitialized,
  isMainProcess,
  getRank,
  getWorldSize,
  getCurrentWorld,
  getProcessGroup,
  allReduce,
  broadcast,
  allGather,
  reduceScatter,
  barrier,
  broadcastObject,
  type SetupOptions,
  type Backend,
} from './setup.js';
export { getWorldInfo, type WorldInfo } from '../env/index.js';
export {
  ProcessGroup,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_SMALL_BYTES,
  DEFAULT_SHM_WINDOW_BYTES,
  type ProcessGroupOptions,
  type CallOptions,
  type AllGatherOptions,
} from './process-group.js';
export { createProcessGroup, type MeshOptions, type AddressStore, type Transport } from './mesh.js';
export { partRange } from './ops.js';
export { sweepStaleSockets } from './socket-files.js';
export type { ExchangeSend, ExchangeRecv } from './exchange.js';
export { REDUCE_OPS, type ReduceOp, type ReducibleArray, type CollectiveArray, type DTypeName, type ReducibleDType, type ReducibleOf } from './dtypes.js';
export { reductionPath } from './reduce.js';
export { CollectiveError, PeerLostError, CollectiveTimeoutError, CollectiveMismatchError, CollectiveAbortedError } from './errors.js';
