/** What a worker knows of its world, read from the environment `eh run` (or torchrun) gives it. */
import { DistributedSetupError } from '../errors/index.js';
import type { WorldInfo } from '../collective/index.js';
import { EH_ENV } from '../env/index.js';

/** The collective's WorldInfo (rank, localRank, worldSize, localWorldSize, masterAddr, masterPort, groupRank, restartCount, runId) plus everything else the agent tells a worker. */
export interface AgentWorldInfo extends WorldInfo {
  groupWorldSize: number;
  roleName: string;
  maxRestarts: number;
  storeBackend: string | undefined;
  storeEndpoint: string | undefined;
  storePrefix: string | undefined;
}

const REQUIRED = ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'] as const;

/**
 * Read the world from `env`. Raises DistributedSetupError listing every missing variable at once
 * (and every malformed one), never just the first.
 */
export function getWorldInfo(env: NodeJS.ProcessEnv = process.env): AgentWorldInfo {
  const missing = REQUIRED.filter((k) => env[k] === undefined || env[k] === '');
  const bad: string[] = [];
  const int = (k: string, min: number, fallback = 0): number => {
    const raw = env[k];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      bad.push(`${k}=${JSON.stringify(raw)} (expected an integer >= ${min})`);
      return fallback;
    }
    return n;
  };
  const info: AgentWorldInfo = {
    rank: int('RANK', 0),
    localRank: int('LOCAL_RANK', 0),
    worldSize: int('WORLD_SIZE', 1, 1),
    localWorldSize: int('LOCAL_WORLD_SIZE', 1, 1),
    masterAddr: env.MASTER_ADDR ?? '',
    masterPort: int('MASTER_PORT', 1),
    groupRank: int('GROUP_RANK', 0),
    groupWorldSize: int('GROUP_WORLD_SIZE', 1, 1),
    roleName: env.ROLE_NAME ?? 'default',
    restartCount: int('TORCHELASTIC_RESTART_COUNT', 0),
    maxRestarts: int('TORCHELASTIC_MAX_RESTARTS', 0),
    runId: env.TORCHELASTIC_RUN_ID ?? '',
    storeBackend: env[EH_ENV.STORE_BACKEND],
    storeEndpoint: env[EH_ENV.STORE_ENDPOINT],
    storePrefix: env[EH_ENV.STORE_PREFIX],
  };
  if (missing.length === 0 && bad.length === 0) {
    if (info.rank >= info.worldSize) bad.push(`RANK=${info.rank} is not below WORLD_SIZE=${info.worldSize}`);
    if (info.localRank >= info.localWorldSize) bad.push(`LOCAL_RANK=${info.localRank} is not below LOCAL_WORLD_SIZE=${info.localWorldSize}`);
  }
  if (missing.length > 0 || bad.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`${missing.length} required environment variable(s) missing`);
    if (bad.length > 0) parts.push(`malformed: ${bad.join(', ')}`);
    throw new DistributedSetupError(`Cannot read the distributed world from the environment: ${parts.join('; ')}`, {
      missingVars: [...missing],
      suggestions: ['Start the script with `eh run --nproc-per-node N script` (or torchrun), which sets all of them.'],
    });
  }
  return info;
}
