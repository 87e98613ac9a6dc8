import { ElasticTrainingError, type ElasticErrorOptions } from './base.js';

/**
 * Hints for the usual causes of a failed set-up, keyed by environment variable or by symptom.
 * The keys appear in the message whenever the matching variable is missing or the symptom is seen.
 */
export const COMMON_ISSUES: Readonly<Record<string, string>> = Object.freeze({
  RANK: 'RANK is not set: start workers with `eh run` (or torchrun), which sets it, or export RANK=0 for a single process.',
  LOCAL_RANK: 'LOCAL_RANK is not set: it is the rank on this node, set by `eh run`; export LOCAL_RANK=0 for a single process.',
  WORLD_SIZE: 'WORLD_SIZE is not set: it is the total number of workers, set by `eh run`; export WORLD_SIZE=1 for a single process.',
  MASTER_ADDR: 'MASTER_ADDR is not set: it is the host of rank 0, set by `eh run`; use 127.0.0.1 on one machine.',
  MASTER_PORT: 'MASTER_PORT is not set or not a free port: `eh run` picks a free one; otherwise choose an unused port above 1024 on the rank-0 host.',
  timeout: 'A timeout usually means a peer died, hangs, or cannot reach this host: check the other workers\' logs, the firewall, and raise the timeout only if the peers are merely slow to start.',
  'connection refused': 'Connection refused: nothing listens at that address. Check that the agent hosting the store is running and that host and port (e.g. --rdzv-endpoint) are right.',
  token: 'The job token does not match: every agent of a job must be given the same token (--rdzv-conf token=... or EH_TOKEN).',
  NCCL: 'NCCL is not available in Node: use the tcp backend (or auto).',
});

const DEFAULT_SETUP_HINT = "Check that every worker was started by `eh run` (or torchrun) with the same rendezvous settings, and read the other workers' logs for the first failure.";
const DEFAULT_TOPOLOGY_HINT = "The world size must be a whole number within [min_nodes, max_nodes]; check the agents' logs for the nodes that left or failed to join.";

export interface DistributedSetupErrorOptions extends ElasticErrorOptions {
  missingVars?: string[];
  context?: Record<string, unknown>;
}

function hintsFor(message: string, missingVars: readonly string[]): string[] {
  const hints: string[] = [];
  for (const v of missingVars) {
    const hint = COMMON_ISSUES[v];
    if (hint !== undefined) hints.push(hint);
  }
  const lower = message.toLowerCase();
  for (const symptom of ['timeout', 'connection refused', 'token', 'NCCL']) {
    const hint = COMMON_ISSUES[symptom];
    if (hint !== undefined && lower.includes(symptom.toLowerCase()) && !hints.includes(hint)) hints.push(hint);
  }
  if (/timed out|etimedout/i.test(message) && !hints.includes(COMMON_ISSUES.timeout)) hints.push(COMMON_ISSUES.timeout);
  if (/econnrefused/i.test(message) && !hints.includes(COMMON_ISSUES['connection refused'])) hints.push(COMMON_ISSUES['connection refused']);
  return hints;
}

/** The distributed world could not be set up or was lost (missing variables, unreachable store, dead peer). */
export class DistributedSetupError extends ElasticTrainingError {
  readonly missingVars: string[];
  readonly context: Record<string, unknown>;

  constructor(message: string, options: DistributedSetupErrorOptions = {}) {
    const missingVars = options.missingVars ?? [];
    const full = missingVars.length > 0 ? `${message} (missing: ${missingVars.join(', ')})` : message;
    const contextText = options.context !== undefined && Object.keys(options.context).length > 0 ? ` [${Object.entries(options.context).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')}]` : '';
    const advice = [...(options.suggestions ?? []), ...hintsFor(full, missingVars)];
    if (advice.length === 0) advice.push(DEFAULT_SETUP_HINT);
    super(full + contextText, { ...options, suggestions: advice });
    this.missingVars = missingVars;
    this.context = options.context ?? {};
  }
}

export interface TopologyChangeErrorOptions extends ElasticErrorOptions {
  oldWorldSize?: number;
  newWorldSize?: number;
}

/** A change of world size that cannot be handled (below the minimum, zero, not a whole number). */
export class TopologyChangeError extends ElasticTrainingError {
  readonly oldWorldSize?: number;
  readonly newWorldSize?: number;

  constructor(message: string, options: TopologyChangeErrorOptions = {}) {
    const sizes = options.oldWorldSize !== undefined || options.newWorldSize !== undefined ? ` (world size ${String(options.oldWorldSize ?? '?')} -> ${String(options.newWorldSize ?? '?')})` : '';
    const given = options.suggestions ?? [];
    super(message + sizes, { ...options, suggestions: given.length > 0 ? given : [DEFAULT_TOPOLOGY_HINT] });
    this.oldWorldSize = options.oldWorldSize;
    this.newWorldSize = options.newWorldSize;
  }
}

export interface DataLoadingErrorOptions extends ElasticErrorOptions {
  filePath?: string;
}

/** Training data could not be read. */
export class DataLoadingError extends ElasticTrainingError {
  readonly filePath?: string;

  constructor(message: string, options: DataLoadingErrorOptions = {}) {
    const suggestions = options.suggestions ?? (options.filePath !== undefined ? [`Check that ${options.filePath} exists and is readable.`] : []);
    super(options.filePath !== undefined && !message.includes(options.filePath) ? `${message}: ${options.filePath}` : message, { ...options, suggestions });
    this.filePath = options.filePath;
  }
}
