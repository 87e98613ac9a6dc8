/**
 * The environment an agent gives each worker. torchrun's names first, so that existing scripts (including
 * PyTorch ones) run unchanged; then elastic-harness's own, which carry the agent's store and the job token.
 * MASTER_ADDR/MASTER_PORT name a port the agent keeps free for a PyTorch rank 0's own store.
 */
export const TORCHRUN_ENV = [
  'RANK',
  'LOCAL_RANK',
  'WORLD_SIZE',
  'LOCAL_WORLD_SIZE',
  'GROUP_RANK',
  'GROUP_WORLD_SIZE',
  'ROLE_RANK',
  'ROLE_WORLD_SIZE',
  'ROLE_NAME',
  'MASTER_ADDR',
  'MASTER_PORT',
  'TORCHELASTIC_RESTART_COUNT',
  'TORCHELASTIC_MAX_RESTARTS',
  'TORCHELASTIC_RUN_ID',
  'TORCHELASTIC_ERROR_FILE',
] as const;

export const EH_ENV = {
  /** Store backend the workers connect to: `tcp` or `etcd`. */
  STORE_BACKEND: 'EH_STORE_BACKEND',
  /** host:port of the store (the agent's TCP store, or an etcd endpoint). */
  STORE_ENDPOINT: 'EH_STORE_ENDPOINT',
  /** The job's secret token; every store and peer connection must present it. */
  TOKEN: 'EH_TOKEN',
  /** Key prefix unique to this rendezvous round (run id + round): workers' keys live under it, so a restarted group never reads a stale address. */
  STORE_PREFIX: 'EH_STORE_PREFIX',
  /** Set to 1 when the worker has an IPC channel to its agent (Node workers) for heartbeats and control messages. */
  AGENT_IPC: 'EH_AGENT_IPC',
  /** Milliseconds between heartbeats the agent expects (0: heartbeats off). */
  HEARTBEAT_INTERVAL_MS: 'EH_HEARTBEAT_INTERVAL_MS',
  /** Directory for this worker's logs and diagnostic reports. */
  LOG_DIR: 'EH_LOG_DIR',
  /** Stable identity of the host, so that peers on one host talk over Unix sockets. */
  HOST_ID: 'EH_HOST_ID',
  /** The rendezvous round this worker's group was started in. */
  RDZV_ROUND: 'EH_RDZV_ROUND',
  /** The agent's node id in the rendezvous. */
  NODE_ID: 'EH_NODE_ID',
  /** Heartbeats: `auto` (a timer in the worker, detects a blocked event loop) or `manual` (only explicit heartbeat()/reportProgress() calls count). */
  HEARTBEAT_MODE: 'EH_HEARTBEAT_MODE',
  /** Set to 1 when the agent holds the worker's MEMORY checkpoint tier (over the IPC channel); anything else keeps it in the worker. */
  AGENT_MEMORY: 'EH_AGENT_MEMORY',
} as const;

/** Every variable name the agent sets for a worker, torchrun's and ours. */
export const WORKER_ENV_NAMES: readonly string[] = [...TORCHRUN_ENV, ...Object.values(EH_ENV)];

export type TorchrunEnvName = (typeof TORCHRUN_ENV)[number];
