/**
 * The elastic agent: `eh run`'s launcher, supervision and restarts (agent side), and what a worker
 * uses to talk to its agent (worker side: heartbeats, error file, world info).
 */
export { ElasticAgent, type AgentOptions, type AgentResult, type RendezvousFactoryOptions } from './agent.js';
export { StaticRendezvous, type AgentRendezvous, type RoundInfo, type RoundParticipant, type StaticRendezvousOptions } from './agent-rendezvous.js';
export {
  ElasticTrainingConfig,
  RDZV_CONF_DEFAULTS,
  RDZV_CONF_KEYS,
  parseNnodes,
  parseRdzvConf,
  parseStreamSelect,
  type ElasticTrainingConfigOptions,
  type RdzvBackend,
  type RdzvConf,
} from './config.js';
export { elasticOptionsFromSection } from './from-config.js';
export { TORCHRUN_ENV, EH_ENV, WORKER_ENV_NAMES, getWorldInfo, readStoreEnv, type TorchrunEnvName, type StoreEnv } from '../env/index.js';
// The worker's side of the job, from the collective part, so that scripts import it from here as the reference does.
export {
  setupDistributedEnvironment,
  cleanupDistributed,
  isMainProcess,
  getRank,
  getWorldSize,
  barrier,
  broadcastObject,
  type WorldInfo,
  type SetupOptions,
} from '../collective/index.js';
export { installErrorHandler, recordErrors, readErrorFile, writeErrorFile, type ErrorRecord } from './error-file.js';
export { reportMetrics } from './report-metrics.js';
export { startAgentMonitor, type AgentMonitorOptions, type AgentMonitor } from './agent-monitor.js';
export { heartbeat, reportProgress, startHeartbeat, stopHeartbeat, setHeartbeatMode, isUnderAgent, heartbeatIntervalMs } from './heartbeat.js';
export { agentMemory } from './agent-memory.js';
export { MemoryHolder } from './memory-holder.js';
export { formatFailureReport, type FailureRecord, type FailureReason } from './failure-report.js';
export { setupStore, type AgentStore } from './store-setup.js';
