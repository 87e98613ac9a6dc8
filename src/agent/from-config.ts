import type { ElasticSection } from '../config/index.js';
import type { ElasticTrainingConfigOptions } from './config.js';

/**
 * The launcher settings of a validated config file's `elastic` section, for ElasticTrainingConfig (what
 * `eh run --config FILE` starts from; flags given on the command line override these).
 * base_world_size is the scaling side's (elasticScalingFromConfig), not the launcher's.
 */
export function elasticOptionsFromSection(e: ElasticSection): ElasticTrainingConfigOptions {
  return {
    minNodes: e.min_nodes,
    maxNodes: e.max_nodes ?? e.min_nodes,
    nprocPerNode: e.nproc_per_node,
    maxRestarts: e.max_restarts,
    monitorInterval: e.monitor_interval,
    heartbeatInterval: e.heartbeat_interval ?? undefined,
    heartbeatTimeout: e.heartbeat_timeout,
    gracePeriod: e.grace_period,
    rdzvBackend: e.rdzv_backend,
    rdzvEndpoint: e.rdzv_endpoint,
    rdzvId: e.rdzv_id,
    rdzvConf: {
      joinTimeout: e.rdzv_conf.join_timeout,
      lastCallTimeout: e.rdzv_conf.last_call_timeout,
      closeTimeout: e.rdzv_conf.close_timeout,
      keepAliveInterval: e.rdzv_conf.keep_alive_interval,
      keepAliveMaxAttempt: e.rdzv_conf.keep_alive_max_attempt,
    },
  };
}
