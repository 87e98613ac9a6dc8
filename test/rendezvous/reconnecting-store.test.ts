/**
 * The TCP store client outlives its connection: a real TcpStoreServer behind a proxy that the test
 * cuts (every socket destroyed) and stops. While the store cannot be reached, calls fail with
 * StoreUnavailableError (the retryable kind); once it can, the next call opens a new connection, with
 * the token check, and the data is all there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createStore, StoreUnavailableError, TcpStoreServer } from '../../src/rendezvous/index.js';

/** A TCP proxy to `port` whose connections can be cut and which can stop listening. */
async function proxy(port: number): Promise<{ port: number; cut: () => void; stop: () => Promise<void>; start: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let listenPort = 0;
  const start = async (): Promise<void> => {
    server = net.createServer((c) => {
      const up = net.connect({ host: '127.0.0.1', port });
      for (const s of [c, up]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      c.pipe(up).pipe(c);
    });
    await new Promise<void>((resolve) => (server as net.Server).listen({ host: '127.0.0.1', port: listenPort }, resolve));
    listenPort = (server.address() as net.AddressInfo).port;
  };
  const cut = (): void => {
    for (const s of sockets) s.destroy();
  };
  const stop = async (): Promise<void> => {
    cut();
    await new Promise<void>((resolve) => (server as net.Server).close(() => resolve()));
  };
  await start();
  return { port: listenPort, cut, stop, start };
}

test('a lost connection to the TCP store is re-opened at the next call; calls while the store is unreachable fail with StoreUnavailableError', async () => {
  const server = await TcpStoreServer.start({ host: '127.0.0.1', port: 0, token: 'reconnect-token', logger: () => undefined });
  const p = await proxy(server.port);
  const store = await createStore({ backend: 'tcp', endpoint: `127.0.0.1:${String(p.port)}`, token: 'reconnect-token', timeoutMs: 5000 });
  try {
    await store.set('a', '1');
    await p.stop();
    await assert.rejects(store.get('a'), (e: unknown) => e instanceof StoreUnavailableError);
    await assert.rejects(store.get('a'), (e: unknown) => e instanceof StoreUnavailableError, 'still unreachable: a new connection is tried and fails');
    await p.start();
    assert.equal(await store.get('a'), '1', 'the next call after the store is back reconnects');
    p.cut();
    await assert.rejects(store.get('a'), (e: unknown) => e instanceof StoreUnavailableError);
    await store.set('b', '2');
    assert.deepEqual(await store.keys(''), ['a', 'b']);
  } finally {
    await store.close();
    await p.stop().catch(() => undefined);
    await server.close();
  }
});
