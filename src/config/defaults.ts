/**
 * The one default of every launcher setting: the `elastic` section of the config schema, ElasticTrainingConfig
 * (src/agent) and the `eh run` flags (src/cli) all read them from here. Where the reference's Python class and
 * torchrun's CLI disagree, torchrun wins, so a torchrun user's habits carry over (the choice is documented in the
 * README's "The eh command" section):
 * - max_restarts 0 (torchrun; the reference's class says 100): a script with a bug fails at once instead of being
 *   restarted a hundred times; a job that should absorb failures says how many with --max-restarts.
 * - max_nodes = min_nodes (torchrun's --nnodes 1 is 1:1; the reference's class says 4): a job is elastic only
 *   when asked, and `eh run script.js` runs on this machine alone.
 */
export const ELASTIC_DEFAULTS = {
  min_nodes: 1,
  /** null: the same as min_nodes (a fixed size). */
  max_nodes: null,
  nproc_per_node: 1,
  max_restarts: 0,
  monitor_interval: 0.1,
  /** null: a third of heartbeat_timeout, at most 30 s (see defaultHeartbeatInterval). */
  heartbeat_interval: null,
  heartbeat_timeout: 90,
  grace_period: 30,
  rdzv_backend: 'tcp',
  rdzv_endpoint: '',
  rdzv_id: 'elastic-training',
} as const;

export const ELASTIC_RDZV_CONF_DEFAULTS = {
  join_timeout: 600,
  last_call_timeout: 30,
  close_timeout: 30,
  keep_alive_interval: 5,
  keep_alive_max_attempt: 3,
} as const;

/** Launcher settings the config file does not hold (flags and ElasticTrainingConfig only). */
export const LAUNCHER_ONLY_DEFAULTS = {
  /** MiB of agent-held memory workers may fill. */
  memory_limit_mb: 1024,
  role: 'default',
  tee: '0',
  redirects: '0',
} as const;

/** Seconds between heartbeats when none is given: a third of the timeout (three chances), at most 30. */
export function defaultHeartbeatInterval(heartbeatTimeout: number): number {
  return Math.min(30, heartbeatTimeout / 3);
}
