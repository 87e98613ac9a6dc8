import os from 'node:os';
import { EH_ENV } from '../env/index.js';
import { ConfigurationError, DistributedSetupError, describeError } from '../errors/index.js';
import { connectStoreFromEnv, type Store } from '../rendezvous/index.js';
import type { CollectiveArray, ReduceOp, ReducibleArray } from './dtypes.js';
import { createProcessGroup, type Transport } from './mesh.js';
import { ProcessGroup, type AllGatherOptions, type CallOptions, type ProcessGroupOptions } from './process-group.js';

/** The distributed world as this worker sees it (torchrun's environment, parsed). */
export interface WorldInfo {
  rank: number;
  localRank: number;
  worldSize: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** The node's rank (GROUP_RANK), 0 when not set. */
  groupRank: number;
  /** TORCHELASTIC_RESTART_COUNT, 0 when not set. */
  restartCount: number;
  /** TORCHELASTIC_RUN_ID, '' when not set. */
  runId: string;
}

export type Backend = 'tcp' | 'auto';

export interface SetupOptions extends ProcessGroupOptions {
  /** `tcp` or `auto` (the same engine: Unix sockets on one host, TCP across hosts). */
  backend?: Backend;
  /** Bound on the set-up (store, address exchange, connections) and the default per-collective timeout, in ms (default 300 000). */
  timeoutMs?: number;
  /** Force the transport: `auto` (default), `tcp` or `unix`. Also EH_COLLECTIVE_TRANSPORT. */
  transport?: Transport;
  /** Use this store instead of connecting to the one named in the environment (its keys are used as given). */
  store?: Store;
  /** Read this environment instead of process.env. */
  env?: NodeJS.ProcessEnv;
}

let world: WorldInfo | undefined;
let group: ProcessGroup | undefined;
let ownedStore: Store | undefined;

const REQUIRED = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'] as const;

function intVar(env: NodeJS.ProcessEnv, name: string, bad: string[], fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback ?? NaN;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) bad.push(`${name}=${JSON.stringify(raw)}`);
  return v;
}

/**
 * Read the environment contract. No variables at all, or WORLD_SIZE=1, is a single process; a
 * partial set is an error listing every missing variable.
 */
export function readWorldInfo(env: NodeJS.ProcessEnv = process.env): WorldInfo {
  const present = REQUIRED.filter((n) => env[n] !== undefined && env[n] !== '');
  const ws = env.WORLD_SIZE;
  const single = present.length === 0 || (ws === '1' && (env.RANK === undefined || env.RANK === '0' || env.RANK === ''));
  const bad: string[] = [];
  const extra = {
    groupRank: intVar(env, 'GROUP_RANK', bad, 0),
    restartCount: intVar(env, 'TORCHELASTIC_RESTART_COUNT', bad, 0),
    runId: env.TORCHELASTIC_RUN_ID ?? '',
  };
  if (single) {
    return { rank: 0, localRank: 0, worldSize: 1, localWorldSize: 1, masterAddr: env.MASTER_ADDR ?? '127.0.0.1', masterPort: Number(env.MASTER_PORT ?? 0) || 0, ...extra };
  }
  const missing = REQUIRED.filter((n) => env[n] === undefined || env[n] === '');
  if (missing.length > 0) {
    throw new DistributedSetupError('Cannot set up the distributed environment: some of the variables a launcher sets are missing', { missingVars: [...missing] });
  }
  const info: WorldInfo = {
    rank: intVar(env, 'RANK', bad),
    localRank: intVar(env, 'LOCAL_RANK', bad),
    worldSize: intVar(env, 'WORLD_SIZE', bad),
    localWorldSize: intVar(env, 'LOCAL_WORLD_SIZE', bad),
    masterAddr: env.MASTER_ADDR as string,
    masterPort: intVar(env, 'MASTER_PORT', bad),
    ...extra,
  };
  if (info.worldSize < 1) bad.push('WORLD_SIZE must be at least 1');
  if (info.rank >= info.worldSize) bad.push(`RANK ${String(info.rank)} is not below WORLD_SIZE ${String(info.worldSize)}`);
  if (info.localRank >= info.localWorldSize) bad.push(`LOCAL_RANK ${String(info.localRank)} is not below LOCAL_WORLD_SIZE ${String(info.localWorldSize)}`);
  if (bad.length > 0) throw new DistributedSetupError(`Invalid distributed environment: ${bad.join('; ')}`, { suggestions: ['These must be non-negative integers set by `eh run` (or torchrun).'] });
  return info;
}

/**
 * Join the job's process group: read the environment, connect to the agent's store (EH_STORE_* and
 * EH_TOKEN), exchange addresses and connect to every peer. Returns the world; the group is then the
 * default for the free functions. A single process (no launcher variables, or WORLD_SIZE=1) needs
 * nothing else, and its collectives are the identity.
 */
export async function setupDistributedEnvironment(options: SetupOptions = {}): Promise<WorldInfo> {
  const backend = options.backend ?? 'auto';
  if ((backend as string) !== 'tcp' && (backend as string) !== 'auto') {
    throw new ConfigurationError(`backend ${JSON.stringify(backend)} is not available in Node`, { configKey: 'backend', suggestions: ["Use 'tcp' or 'auto' (NCCL and gloo are PyTorch's; this engine plays gloo's part)."] });
  }
  if (group !== undefined) throw new DistributedSetupError('setupDistributedEnvironment() was already called in this process', { suggestions: ['Call cleanupDistributed() first to join a new group.'] });
  const env = options.env ?? process.env;
  const info = readWorldInfo(env);
  const timeoutMs = options.timeoutMs ?? 300_000;
  if (info.worldSize === 1) {
    world = info;
    group = ProcessGroup.single({ ...options, timeoutMs });
    return info;
  }
  const token = env[EH_ENV.TOKEN];
  const missing = [...(options.store === undefined && !env[EH_ENV.STORE_ENDPOINT] ? [EH_ENV.STORE_ENDPOINT] : []), ...(!token ? [EH_ENV.TOKEN] : [])];
  if (missing.length > 0) {
    throw new DistributedSetupError(`A ${String(info.worldSize)}-rank world needs the agent's store and the job token`, {
      missingVars: missing,
      suggestions: ['Start workers with `eh run`, which sets them, or export EH_STORE_ENDPOINT=host:port and EH_TOKEN=<job token>.'],
    });
  }
  let store = options.store;
  if (store === undefined) {
    try {
      store = await connectStoreFromEnv({ env, timeoutMs });
    } catch (err) {
      if (err instanceof DistributedSetupError || err instanceof ConfigurationError) throw err;
      throw new DistributedSetupError(`rank ${String(info.rank)} could not reach the store at ${env[EH_ENV.STORE_ENDPOINT] ?? '?'}: ${describeError(err)}`, { cause: err });
    }
    ownedStore = store;
  }
  const transport = (options.transport ?? (env.EH_COLLECTIVE_TRANSPORT as Transport | undefined) ?? 'auto') as Transport;
  if (!['auto', 'tcp', 'unix'].includes(transport)) throw new ConfigurationError(`transport must be auto, tcp or unix, got ${JSON.stringify(transport)}`, { configKey: 'EH_COLLECTIVE_TRANSPORT' });
  try {
    group = await createProcessGroup({
      ...options,
      timeoutMs,
      rank: info.rank,
      worldSize: info.worldSize,
      store,
      token: token as string,
      groupId: `${env[EH_ENV.STORE_PREFIX] ?? ''}|${info.runId}|${String(info.restartCount)}`,
      keyPrefix: `collective/${String(info.restartCount)}/`,
      hostId: env[EH_ENV.HOST_ID] || os.hostname(),
      transport,
      setupTimeoutMs: timeoutMs,
    });
  } catch (err) {
    await closeOwnedStore();
    throw err;
  }
  world = info;
  return info;
}

async function closeOwnedStore(): Promise<void> {
  const s = ownedStore;
  ownedStore = undefined;
  await s?.close().catch(() => undefined);
}

/** Leave the process group and close the store connection. Safe to call when not initialised. */
export async function cleanupDistributed(): Promise<void> {
  const g = group;
  group = undefined;
  world = undefined;
  await g?.close();
  await closeOwnedStore();
}

export function isInitialized(): boolean {
  return group !== undefined;
}

/** The world of the current group, or undefined before setupDistributedEnvironment(). */
export function getWorldInfo(): WorldInfo | undefined {
  return world;
}

export function getRank(): number {
  return world?.rank ?? 0;
}

export function getWorldSize(): number {
  return world?.worldSize ?? 1;
}

/** True on rank 0, and when not initialised. */
export function isMainProcess(): boolean {
  return getRank() === 0;
}

/** The default process group (set up by setupDistributedEnvironment()). */
export function getProcessGroup(): ProcessGroup {
  if (group === undefined) {
    throw new DistributedSetupError('No process group: call setupDistributedEnvironment() first', { suggestions: ['await setupDistributedEnvironment() at the start of the worker.'] });
  }
  return group;
}

// Without a group, collectives act on a world of one (identity), so single-process scripts run unchanged.
function groupOrSingle(): ProcessGroup {
  return group ?? singleton;
}
const singleton = ProcessGroup.single();

export function allReduce<T extends ReducibleArray>(buf: T, op: ReduceOp = 'sum', options?: CallOptions): Promise<T> {
  return groupOrSingle().allReduce(buf, op, options);
}

export function broadcast<T extends CollectiveArray>(buf: T, src = 0, options?: CallOptions): Promise<T> {
  return groupOrSingle().broadcast(buf, src, options);
}

export function allGather<T extends CollectiveArray>(input: T, options?: AllGatherOptions<T>): Promise<T> {
  return groupOrSingle().allGather(input, options);
}

export function reduceScatter<T extends ReducibleArray>(input: T, op: ReduceOp = 'sum', options?: CallOptions): Promise<T> {
  return groupOrSingle().reduceScatter(input, op, options);
}

/** Wait until every rank reaches this point. */
export function barrier(options?: CallOptions): Promise<void> {
  return groupOrSingle().barrier(options);
}

/** Send a JSON-serialisable value from `src` to every rank. */
export function broadcastObject<V>(obj: V, src = 0, options?: CallOptions): Promise<V> {
  return groupOrSingle().broadcastObject(obj, src, options);
}
