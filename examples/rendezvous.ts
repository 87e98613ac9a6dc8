/**
 * The rendezvous store on its own: a TCP store server guarded by a job token, two clients that meet
 * through it (one waits for a key the other sets), a shared counter, and a client with the wrong token
 * that is turned away.
 *
 *   node --import tsx examples/rendezvous.ts
 */
import { TcpStore, TcpStoreServer, generateToken } from 'elastic-harness/rendezvous';

const token = generateToken();
const server = await TcpStoreServer.start({ host: '127.0.0.1', port: 0, token }); // port 0: a free port
console.log(`store listening on ${server.endpoint}`);

const alice = await TcpStore.connect({ endpoint: server.endpoint, token });
const bob = await TcpStore.connect({ endpoint: server.endpoint, token });

// Bob blocks until Alice publishes her address, as a worker waits for its peers in a real rendezvous.
const bobSees = bob.wait(['peer/alice'], 5_000).then(() => bob.get('peer/alice'));
await alice.set('peer/alice', '10.0.0.1:5000');
console.log(`bob read peer/alice = ${String(await bobSees)}`);

// add() is atomic: each participant gets a distinct number, whatever the order.
const numbers = await Promise.all([alice.add('joined', 1), bob.add('joined', 1)]);
console.log(`join order: ${numbers.sort().join(', ')}; keys under peer/: ${(await alice.keys('peer/')).join(', ')}`);

// The token is the job's secret: a client without it is refused.
try {
  await TcpStore.connect({ endpoint: server.endpoint, token: generateToken(), timeoutMs: 2_000 });
  throw new Error('a client with the wrong token was let in');
} catch (err) {
  console.log(`wrong token refused: ${(err as Error).message.split('\n')[0]}`);
}

await Promise.all([alice.close(), bob.close()]);
await server.close();
