import { getWorldInfo, hostIdFrom, requireStoreEnv, type WorldInfo } from '../env/index.js';
import { ConfigurationError, DistributedSetupError, describeError } from '../errors/index.js';
import { connectStoreFromEnv, type Store, type TcpStoreServer } from '../rendezvous/index.js';
import type { CollectiveArray, ReduceOp, ReducibleArray } from './dtypes.js';
import { createProcessGroup, type Transport } from './mesh.js';
import { openInitStore } from './setup-store.js';
import { ProcessGroup, type AllGatherOptions, type CallOptions, type ProcessGroupOptions } from './process-group.js';

/** The reference's names: `gloo` is this CPU engine (the same as `tcp`); `nccl` is refused with what to use. */
export type Backend = 'tcp' | 'gloo' | 'auto' | 'nccl';

export interface SetupOptions extends ProcessGroupOptions {
  /** `auto` (default), `tcp` or `gloo`: one engine (Unix sockets on one host, TCP across hosts). `nccl` raises a ConfigurationError. */
  backend?: Backend;
  /** `env://` (default: the store the agent named in the environment) or `tcp://HOST:PORT` (that TCP store, with EH_TOKEN). */
  initMethod?: string;
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
/** The store of initMethod tcp:// that rank 0 hosts. */
let hostedStore: TcpStoreServer | undefined;

/**
 * Join the job's process group: read the environment, connect to the agent's store (EH_STORE_* and
 * EH_TOKEN), exchange addresses and connect to every peer. Returns the world; the group is then the
 * default for the free functions. A single process (no launcher variables, or WORLD_SIZE=1) needs
 * nothing else, and its collectives are the identity.
 */
export async function setupDistributedEnvironment(options: SetupOptions = {}): Promise<WorldInfo> {
  const backend: string = options.backend ?? 'auto';
  if (backend === 'nccl') {
    throw new ConfigurationError("backend 'nccl' needs NVIDIA GPUs and PyTorch's CUDA build: Node has no GPU collective", {
      configKey: 'backend',
      suggestions: ["Use 'gloo' (or 'tcp', 'auto'): this CPU engine over Unix sockets and TCP. For GPU training, run a PyTorch script under `eh run`; it gets torchrun's environment."],
    });
  }
  if (!['tcp', 'gloo', 'auto'].includes(backend)) {
    throw new ConfigurationError(`backend ${JSON.stringify(backend)} is not a backend`, { configKey: 'backend', suggestions: ["Use 'auto' (the default), 'gloo' or 'tcp': one CPU engine."] });
  }
  const init = options.initMethod ?? 'env://';
  const tcpInit = /^tcp:\/\/(.+:\d{1,5})$/.exec(init);
  if (init !== 'env://' && tcpInit === null) {
    throw new ConfigurationError(`initMethod ${JSON.stringify(init)} is not supported`, { configKey: 'initMethod', suggestions: ["Use 'env://' (the default: the store `eh run` gives) or 'tcp://HOST:PORT' (a TCP store you run; EH_TOKEN must hold its token)."] });
  }
  if (group !== undefined) throw new DistributedSetupError('setupDistributedEnvironment() was already called in this process', { suggestions: ['Call cleanupDistributed() first to join a new group.'] });
  if (tcpInit !== null && options.store !== undefined) {
    throw new ConfigurationError(`initMethod ${JSON.stringify(init)} and a store given in code name two stores`, { configKey: 'initMethod', suggestions: ['Pass either the store or initMethod, not both.'] });
  }
  const env = options.env ?? process.env;
  const info = getWorldInfo(env);
  const timeoutMs = options.timeoutMs ?? 300_000;
  if (info.worldSize === 1) {
    world = info;
    group = ProcessGroup.single({ ...options, timeoutMs });
    return info;
  }
  let store = options.store;
  // tcp://HOST:PORT names the store (rank 0 hosts it); everything else still comes from the environment.
  if (tcpInit !== null) {
    const opened = await openInitStore(tcpInit[1], info.rank, env, timeoutMs);
    store = ownedStore = opened.store;
    hostedStore = opened.server;
  }
  const storeEnv = requireStoreEnv(env, `A ${String(info.worldSize)}-rank world`, store === undefined);
  if (store === undefined) {
    try {
      store = await connectStoreFromEnv({ env, timeoutMs });
    } catch (err) {
      if (err instanceof DistributedSetupError || err instanceof ConfigurationError) throw err;
      throw new DistributedSetupError(`rank ${String(info.rank)} could not reach the store at ${storeEnv.endpoint ?? '?'}: ${describeError(err)}`, { cause: err });
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
      token: storeEnv.token,
      groupId: `${storeEnv.prefix ?? ''}|${info.runId}|${String(info.restartCount)}`,
      keyPrefix: `collective/${String(info.restartCount)}/`,
      hostId: storeEnv.hostId ?? hostIdFrom(env),
      transport,
      setupTimeoutMs: timeoutMs,
      peerTimeoutMs: options.peerTimeoutMs ?? peerTimeoutFromEnv(env),
      // A job on one host is reached over loopback only; one that spans hosts listens on every interface.
      ...(info.localWorldSize === info.worldSize && !env.EH_COLLECTIVE_ADDR ? { bindHost: '127.0.0.1', advertiseHost: '127.0.0.1' } : {}),
    });
  } catch (err) {
    await closeOwnedStore();
    throw err;
  }
  world = info;
  return info;
}

/** EH_COLLECTIVE_PEER_TIMEOUT_MS: the cross-host silence that counts as a lost peer (ProcessGroupOptions.peerTimeoutMs). */
function peerTimeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.EH_COLLECTIVE_PEER_TIMEOUT_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) throw new ConfigurationError(`EH_COLLECTIVE_PEER_TIMEOUT_MS must be a positive number of milliseconds, got ${JSON.stringify(raw)}`, { configKey: 'EH_COLLECTIVE_PEER_TIMEOUT_MS' });
  return ms;
}

async function closeOwnedStore(): Promise<void> {
  const s = ownedStore;
  const hosted = hostedStore;
  ownedStore = undefined;
  hostedStore = undefined;
  await s?.close().catch(() => undefined);
  await hosted?.close().catch(() => undefined);
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

/**
 * The world of the current group, or undefined before setupDistributedEnvironment(). (The environment
 * itself, before or without a group, is read by getWorldInfo() from the env part.)
 */
export function getCurrentWorld(): WorldInfo | undefined {
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
