import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DistributedSetupError } from '../../src/errors/index.js';
import { encodeFrame } from '../../src/rendezvous/framing.js';
import { MemoryStore } from '../../src/rendezvous/memory-store.js';
import { PrefixStore } from '../../src/rendezvous/prefix-store.js';
import { TcpStore } from '../../src/rendezvous/tcp-store.js';
import { TcpStoreServer } from '../../src/rendezvous/tcp-store-server.js';
import { freePort } from '../helpers/ports.js';
import { storeConformance } from './store-conformance.js';

const TOKEN = 'secret-token-for-tests';
const quiet = (): void => undefined;

async function serverAndClients(): Promise<{ a: TcpStore; b: TcpStore; done(): Promise<void> }> {
  const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: quiet });
  const a = await TcpStore.connect({ endpoint: server.endpoint, token: TOKEN, timeoutMs: 2_000 });
  const b = await TcpStore.connect({ endpoint: server.endpoint, token: TOKEN, timeoutMs: 2_000 });
  return { a, b, done: async () => { await a.close(); await b.close(); await server.close(); } };
}

describe('TcpStore conformance', () => storeConformance({ open: serverAndClients, ttlMs: 200 }));

describe('MemoryStore conformance', () =>
  storeConformance({
    ttlMs: 200,
    open: async () => {
      const m = new MemoryStore();
      return { a: m, b: m, done: () => m.close() };
    },
  }));

describe('PrefixStore over TcpStore conformance', () =>
  storeConformance({
    ttlMs: 200,
    open: async () => {
      const s = await serverAndClients();
      return { a: new PrefixStore(s.a, 'job/round/1'), b: new PrefixStore(s.b, 'job/round/1'), done: s.done };
    },
  }));

describe('TcpStore security and failures', () => {
  it('refuses a wrong token: the client rejects naming the token, the server logs the refusal', async () => {
    const lines: string[] = [];
    const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: (l) => lines.push(l) });
    try {
      const started = Date.now();
      await assert.rejects(TcpStore.connect({ endpoint: server.endpoint, token: 'not-the-token', timeoutMs: 5_000 }), (err: unknown) => {
        assert.ok(err instanceof DistributedSetupError);
        assert.match(err.message, /token/);
        assert.match(err.message, new RegExp(server.endpoint));
        return true;
      });
      assert.ok(Date.now() - started < 2_000, 'a refusal is final, not retried until the timeout');
      assert.equal(lines.length, 1);
      assert.match(lines[0], /refused store connection from 127\.0\.0\.1:\d+: wrong or missing token/);
      // The right token still works afterwards.
      const ok = await TcpStore.connect({ endpoint: server.endpoint, token: TOKEN, timeoutMs: 2_000 });
      await ok.set('k', 'v');
      assert.equal(await ok.get('k'), 'v');
      await ok.close();
    } finally {
      await server.close();
    }
  });

  it('a raw connection that skips the token cannot read or write anything', async () => {
    const lines: string[] = [];
    const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: (l) => lines.push(l) });
    try {
      await server.store.set('secret', 'value');
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      const received: Buffer[] = [];
      socket.on('data', (c: Buffer) => received.push(c));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(encodeFrame({ id: 1, op: 'get', key: 'secret' }));
      socket.write(encodeFrame({ id: 2, op: 'set', key: 'secret', value: 'overwritten' }));
      await Promise.race([closed, sleep(3_000).then(() => assert.fail('server did not close the connection'))]);
      const text = Buffer.concat(received).toString('utf8');
      assert.doesNotMatch(text, /value/);
      assert.match(text, /"ok":false/);
      assert.equal(await server.store.get('secret'), 'value');
      assert.equal(lines.length, 1);
    } finally {
      await server.close();
    }
  });

  it('an oversized unauthenticated frame is dropped without buffering it', async () => {
    const lines: string[] = [];
    const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: (l) => lines.push(l) });
    try {
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(1_000_000_000, 0);
      socket.write(head);
      await Promise.race([closed, sleep(3_000).then(() => assert.fail('server did not close the connection'))]);
      assert.match(lines.join('\n'), /bad frame/);
    } finally {
      await server.close();
    }
  });

  it('an endpoint nobody listens on rejects within the timeout, naming the endpoint', async () => {
    const port = await freePort();
    const endpoint = `127.0.0.1:${port}`;
    const started = Date.now();
    await assert.rejects(TcpStore.connect({ endpoint, token: TOKEN, timeoutMs: 700 }), (err: unknown) => {
      assert.ok(err instanceof DistributedSetupError);
      assert.match(err.message, new RegExp(endpoint));
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took >= 600 && took < 3_000, `took ${took} ms`);
  });

  it('keeps retrying while the host agent starts a little later', async () => {
    const port = await freePort();
    const connecting = TcpStore.connect({ endpoint: `127.0.0.1:${port}`, token: TOKEN, timeoutMs: 10_000 });
    await sleep(400);
    const server = await TcpStoreServer.start({ port, token: TOKEN, logger: quiet });
    try {
      const client = await connecting;
      await client.set('late', 'yes');
      assert.equal(await server.store.get('late'), 'yes');
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('pipelines many requests on one connection and matches replies by id', async () => {
    const { a, done } = await serverAndClients();
    try {
      const waits = Array.from({ length: 50 }, (_, i) => a.wait([`p/${i}`], 5_000));
      const sets = Array.from({ length: 50 }, (_, i) => a.set(`p/${i}`, String(i)));
      await Promise.all([...waits, ...sets]);
      const values = await Promise.all(Array.from({ length: 50 }, (_, i) => a.get(`p/${i}`)));
      assert.deepEqual(values, Array.from({ length: 50 }, (_, i) => String(i)));
    } finally {
      await done();
    }
  });

  it('a closed server makes pending and later calls reject with DistributedSetupError, never hang', async () => {
    const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: quiet });
    const client = await TcpStore.connect({ endpoint: server.endpoint, token: TOKEN, timeoutMs: 2_000 });
    const pending = client.wait(['never'], 60_000);
    await sleep(50);
    await server.close();
    await assert.rejects(pending, (err: unknown) => err instanceof DistributedSetupError && /Lost the connection/.test(err.message));
    await assert.rejects(client.get('x'), DistributedSetupError);
    assert.equal(client.isClosed, true);
    await client.close();
  });

  it('a host process killed with SIGKILL makes waiting clients reject at once', async () => {
    const { child, endpoint } = await startStoreHost();
    const client = await TcpStore.connect({ endpoint, token: TOKEN, timeoutMs: 5_000 });
    await client.set('a', '1');
    const pending = client.wait(['b'], 60_000);
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await assert.rejects(pending, DistributedSetupError);
    assert.ok(Date.now() - killedAt < 2_000);
    await assert.rejects(client.set('c', '1'), DistributedSetupError);
    await client.close();
  });

  it('a frozen host (SIGSTOP: sockets open, no answers) makes pending calls reject after 3 heartbeats', async () => {
    const { child, endpoint } = await startStoreHost();
    const client = await TcpStore.connect({ endpoint, token: TOKEN, timeoutMs: 5_000, heartbeatMs: 200 });
    // A long wait with heartbeats flowing is not mistaken for a frozen host.
    await assert.rejects(client.wait(['never'], 1_000), (err: unknown) => err instanceof DistributedSetupError && /Timed out/.test(err.message));
    const pending = client.wait(['never'], 60_000);
    child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    try {
      await assert.rejects(pending, (err: unknown) => err instanceof DistributedSetupError && /no answer/.test(err.message));
      const took = Date.now() - stoppedAt;
      assert.ok(took >= 500 && took < 5_000, `took ${took} ms`);
      await assert.rejects(client.get('x'), DistributedSetupError);
    } finally {
      child.kill('SIGKILL');
      await client.close();
    }
  });

  it('an idle client does not keep its process alive, a pending call does', async () => {
    const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: quiet });
    const script = fileURLToPath(new URL('./fixtures/idle-client.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, TOKEN, ENDPOINT: server.endpoint }, stdio: ['ignore', 'pipe', 'inherit'] });
    after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await server.store.wait(['child/started'], 20_000);
      await sleep(700);
      assert.equal(child.exitCode, null, 'the child exited while its wait was pending');
      const goAt = Date.now();
      await server.store.set('parent/go', 'yes');
      const code = await Promise.race([exited, sleep(10_000).then(() => 'still running')]);
      assert.equal(code, 0);
      assert.match(out, /GOT yes/);
      assert.ok(Date.now() - goAt < 5_000);
    } finally {
      child.kill('SIGKILL');
      await server.close();
    }
  });

  it('a client that goes away frees its server-side waiters', async () => {
    const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: quiet });
    try {
      const client = await TcpStore.connect({ endpoint: server.endpoint, token: TOKEN, timeoutMs: 2_000 });
      const pending = client.wait(['w1', 'w2'], 60_000).catch(() => 'rejected');
      await sleep(50);
      await client.close();
      assert.equal(await pending, 'rejected');
      const deadline = Date.now() + 2_000;
      while (server.connectionCount > 0 && Date.now() < deadline) await sleep(20);
      assert.equal(server.connectionCount, 0);
      // Setting the key later must not write to the dead socket or throw.
      await server.store.set('w1', 'x');
      await server.store.set('w2', 'x');
    } finally {
      await server.close();
    }
  });

  it('rejects bad endpoints and empty tokens with clear errors', async () => {
    await assert.rejects(TcpStore.connect({ endpoint: 'nohostport', token: TOKEN }), /host:port/);
    await assert.rejects(TcpStore.connect({ endpoint: '127.0.0.1:99999', token: TOKEN }), /port/);
    await assert.rejects(TcpStore.connect({ endpoint: '127.0.0.1:1', token: '' }), /token/);
    await assert.rejects(TcpStoreServer.start({ port: 0, token: '' }), /token/);
  });
});

describe('TcpStore long waits', () => {
  it('a wait longer than setTimeout can express is not cut short', async () => {
    const server = await TcpStoreServer.start({ port: 0, token: TOKEN, logger: quiet });
    const client = await TcpStore.connect({ endpoint: server.endpoint, token: TOKEN });
    try {
      const pending = client.wait(['later'], 5_000_000_000);
      await sleep(100);
      await client.set('later', 'x');
      await pending;
    } finally {
      await client.close();
      await server.close();
    }
  });
});

/** A TCP store hosted by a separate process (test/rendezvous/fixtures/store-host.ts), killed when the test ends. */
async function startStoreHost(): Promise<{ child: ChildProcess; endpoint: string }> {
  const script = fileURLToPath(new URL('./fixtures/store-host.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, TOKEN }, stdio: ['ignore', 'pipe', 'inherit'] });
  after(() => child.kill('SIGKILL'));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('store host did not start')), 20_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /ENDPOINT (\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return { child, endpoint };
}
