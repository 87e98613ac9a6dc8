/**
 * The one parser of the worker environment. The collective (setting up a process group), the rendezvous
 * (a worker's store connection) and the agent's worker side all read the environment through here, so a
 * variable means the same thing, and is checked by the same rules, wherever it is read.
 */
import { ConfigurationError, DistributedSetupError } from '../errors/index.js';
import { EH_ENV } from './contract.js';

/** The distributed world as a worker sees it: torchrun's environment, parsed. */
export interface WorldInfo {
  rank: number;
  localRank: number;
  worldSize: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** The node's rank (GROUP_RANK), 0 when not set. */
  groupRank: number;
  /** Nodes in the job (GROUP_WORLD_SIZE), 1 when not set. */
  groupWorldSize: number;
  /** ROLE_NAME, `default` when not set. */
  roleName: string;
  /** TORCHELASTIC_RESTART_COUNT, 0 when not set. */
  restartCount: number;
  /** TORCHELASTIC_MAX_RESTARTS, 0 when not set. */
  maxRestarts: number;
  /** TORCHELASTIC_RUN_ID, '' when not set. */
  runId: string;
}

/** The variables a launcher always sets; a process with none of them is a world of one. */
export const REQUIRED_WORLD_ENV = ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'] as const;

const given = (env: NodeJS.ProcessEnv, k: string): boolean => env[k] !== undefined && env[k] !== '';

/**
 * Read the world from `env` (the reference's `get_world_info()`), with no connection made.
 * - none of the launcher's variables (a script run by hand), or WORLD_SIZE=1 with RANK 0 or unset: a world of one;
 * - otherwise every variable in REQUIRED_WORLD_ENV must be there: a DistributedSetupError lists every missing
 *   one at once, and every malformed one (ranks are integers >= 0, sizes >= 1, MASTER_PORT 1..65535,
 *   RANK below WORLD_SIZE, LOCAL_RANK below LOCAL_WORLD_SIZE).
 */
export function getWorldInfo(env: NodeJS.ProcessEnv = process.env): WorldInfo {
  const bad: string[] = [];
  const int = (k: string, min: number, fallback: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[k];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      bad.push(`${k}=${JSON.stringify(raw)} (expected an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`})`);
      return fallback;
    }
    return n;
  };
  const common = {
    groupRank: int('GROUP_RANK', 0, 0),
    groupWorldSize: int('GROUP_WORLD_SIZE', 1, 1),
    roleName: env.ROLE_NAME || 'default',
    restartCount: int('TORCHELASTIC_RESTART_COUNT', 0, 0),
    maxRestarts: int('TORCHELASTIC_MAX_RESTARTS', 0, 0),
    runId: env.TORCHELASTIC_RUN_ID ?? '',
  };
  const none = REQUIRED_WORLD_ENV.every((k) => !given(env, k));
  const single = none || (env.WORLD_SIZE === '1' && (!given(env, 'RANK') || env.RANK === '0'));
  let info: WorldInfo;
  const missing: string[] = [];
  if (single) {
    info = { rank: 0, localRank: 0, worldSize: 1, localWorldSize: 1, masterAddr: env.MASTER_ADDR || '127.0.0.1', masterPort: int('MASTER_PORT', 0, 0, 65535), ...common };
  } else {
    missing.push(...REQUIRED_WORLD_ENV.filter((k) => !given(env, k)));
    info = {
      rank: int('RANK', 0, 0),
      localRank: int('LOCAL_RANK', 0, 0),
      worldSize: int('WORLD_SIZE', 1, 1),
      localWorldSize: int('LOCAL_WORLD_SIZE', 1, 1),
      masterAddr: env.MASTER_ADDR ?? '',
      masterPort: int('MASTER_PORT', 1, 0, 65535),
      ...common,
    };
    if (missing.length === 0 && bad.length === 0) {
      if (info.rank >= info.worldSize) bad.push(`RANK=${info.rank} is not below WORLD_SIZE=${info.worldSize}`);
      if (info.localRank >= info.localWorldSize) bad.push(`LOCAL_RANK=${info.localRank} is not below LOCAL_WORLD_SIZE=${info.localWorldSize}`);
    }
  }
  if (missing.length > 0 || bad.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`${missing.length} required environment variable(s) missing`);
    if (bad.length > 0) parts.push(`malformed: ${bad.join('; ')}`);
    throw new DistributedSetupError(`Cannot read the distributed world from the environment: ${parts.join('; ')}`, {
      missingVars: missing,
      suggestions: ['Start the script with `eh run --nproc-per-node N script` (or torchrun), which sets all of them.'],
    });
  }
  return info;
}

/** How a worker reaches its job's store, as its agent described it. */
export interface StoreEnv {
  backend: 'tcp' | 'etcd';
  /** host:port (EH_STORE_ENDPOINT), undefined when not set. */
  endpoint: string | undefined;
  /** The job token (EH_TOKEN), undefined when not set. */
  token: string | undefined;
  /** Key prefix of the worker's round (EH_STORE_PREFIX), undefined when not set. */
  prefix: string | undefined;
  /** The job's run id (TORCHELASTIC_RUN_ID), `default` when not set. */
  runId: string;
  /** The host's identity (EH_HOST_ID), undefined when not set. */
  hostId: string | undefined;
}

/** Read the store settings; `EH_STORE_BACKEND` other than tcp/etcd is a ConfigurationError. Presence is checked by requireStoreEnv(). */
export function readStoreEnv(env: NodeJS.ProcessEnv = process.env): StoreEnv {
  const backend = env[EH_ENV.STORE_BACKEND] || 'tcp';
  if (backend !== 'tcp' && backend !== 'etcd') {
    throw new ConfigurationError(`${EH_ENV.STORE_BACKEND}=${backend} is not a store backend: use tcp or etcd`, { configKey: EH_ENV.STORE_BACKEND });
  }
  const opt = (k: string): string | undefined => (given(env, k) ? env[k] : undefined);
  return { backend, endpoint: opt(EH_ENV.STORE_ENDPOINT), token: opt(EH_ENV.TOKEN), prefix: opt(EH_ENV.STORE_PREFIX), runId: env.TORCHELASTIC_RUN_ID || 'default', hostId: opt(EH_ENV.HOST_ID) };
}

/**
 * The store settings, with the endpoint (unless `needEndpoint` is false: a store given in code) and the
 * token required; a DistributedSetupError lists every missing variable at once.
 */
export function requireStoreEnv(env: NodeJS.ProcessEnv, what: string, needEndpoint = true): StoreEnv & { token: string } {
  const s = readStoreEnv(env);
  const missing = [...(needEndpoint && s.endpoint === undefined ? [EH_ENV.STORE_ENDPOINT] : []), ...(s.token === undefined ? [EH_ENV.TOKEN] : [])];
  if (missing.length > 0 || s.token === undefined) {
    throw new DistributedSetupError(`${what} needs the agent's store and the job token, and the environment lacks them`, {
      missingVars: missing,
      suggestions: ['Start workers with `eh run`, which sets them, or export EH_STORE_ENDPOINT=host:port and EH_TOKEN=<job token>.'],
    });
  }
  return { ...s, token: s.token };
}
