/**
 * The store of `initMethod: 'tcp://HOST:PORT'`, with torch's meaning: rank 0 hosts a TCP store at that
 * address, and every rank (rank 0 too) connects to it. When something already listens there (an agent
 * hosting its store at that address, say), rank 0 connects like the others instead. Every connection
 * presents the job token (EH_TOKEN), which torch's store has no counterpart of: all ranks must be given it.
 */
import { DistributedSetupError, describeError } from '../errors/index.js';
import { EH_ENV } from '../env/index.js';
import { TcpStoreServer, connectStoreFromEnv, parseEndpoint, type Store } from '../rendezvous/index.js';

export interface InitStore {
  store: Store;
  /** The store this rank hosts, when it does (closed with the group). */
  server: TcpStoreServer | undefined;
}

function addressInUse(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return (cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}

/** Open the store `tcp://${endpoint}` names, hosting it on rank 0 when none listens there yet. */
export async function openInitStore(endpoint: string, rank: number, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<InitStore> {
  const token = env[EH_ENV.TOKEN];
  if (token === undefined || token === '') {
    throw new DistributedSetupError(`initMethod 'tcp://${endpoint}' needs the job token: ${EH_ENV.TOKEN} is not set`, {
      missingVars: [EH_ENV.TOKEN],
      suggestions: [`Export the same secret as ${EH_ENV.TOKEN} to every rank (rank 0's store refuses connections without it), or start the ranks with \`eh run\`, which sets it.`],
    });
  }
  const { host, port } = parseEndpoint(endpoint);
  let server: TcpStoreServer | undefined;
  if (rank === 0) {
    try {
      server = await TcpStoreServer.start({ host, port, token });
    } catch (err) {
      if (!addressInUse(err)) {
        throw new DistributedSetupError(`rank 0 could not host the store of initMethod 'tcp://${endpoint}': ${describeError(err)}`, {
          cause: err,
          suggestions: [`HOST must be an address of rank 0's machine (or 0.0.0.0), and PORT free there.`],
        });
      }
      // Something listens there already: the store of an agent or of an earlier rank 0. Connect to it.
    }
  }
  try {
    const store = await connectStoreFromEnv({ env: { ...env, [EH_ENV.STORE_BACKEND]: 'tcp', [EH_ENV.STORE_ENDPOINT]: endpoint }, timeoutMs });
    return { store, server };
  } catch (err) {
    await server?.close().catch(() => undefined);
    if (err instanceof DistributedSetupError) throw err;
    throw new DistributedSetupError(`rank ${String(rank)} could not reach the store at ${endpoint}: ${describeError(err)}`, { cause: err });
  }
}
