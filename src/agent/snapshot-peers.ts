/**
 * The agents' own connection for the MEMORY tier: each agent serves its snapshots on a TCP port (published in
 * the store for each round) so that another node's agent can send it a copy, list what it holds, or fetch one.
 * Every connection proves the job token (a challenge answered with an HMAC, both ways; the token never crosses
 * the wire). One request per connection: a frame (4-byte length, JSON header) and, for a snapshot, its bytes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

const MAX_HEADER_BYTES = 64 * 1024 * 1024;
const BUFFER_HIGH = 16 * 1024 * 1024;

export interface PeerEndpoint {
  nodeId: string;
  host: string;
  port: number;
}

/** A header, and (when it says `bytes`) that many payload bytes after it. */
export interface PeerHeader {
  op: string;
  bytes?: number;
  [k: string]: unknown;
}

function mac(token: string, text: string): Buffer {
  return createHmac('sha256', token).update(text, 'utf8').digest();
}

/** Buffered reads from a socket, paused while more than BUFFER_HIGH bytes wait (a 384 MiB snapshot never sits whole in memory). */
export class SocketReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.have += c.length;
      if (this.have > BUFFER_HIGH) socket.pause();
      this.notify();
    });
    const fail = (e: Error): void => {
      this.failure ??= e;
      this.notify();
    };
    socket.on('error', fail);
    socket.on('end', () => fail(new Error('the peer agent closed the connection')));
    socket.on('close', () => fail(new Error('the peer agent connection closed')));
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async need(n: number): Promise<void> {
    while (this.have < n) {
      if (this.failure !== undefined) throw this.failure;
      this.socket.resume();
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.have -= n;
    if (this.have <= BUFFER_HIGH) this.socket.resume();
    return all.subarray(0, n);
  }

  async exactly(n: number): Promise<Buffer> {
    await this.need(n);
    return this.take(n);
  }

  async header(): Promise<PeerHeader> {
    const len = (await this.exactly(4)).readUInt32BE(0);
    if (len > MAX_HEADER_BYTES) throw new Error(`a peer agent header of ${len} bytes is over the limit of ${MAX_HEADER_BYTES}`);
    const h = JSON.parse((await this.exactly(len)).toString('utf8')) as unknown;
    if (typeof h !== 'object' || h === null || typeof (h as { op?: unknown }).op !== 'string') throw new Error('a peer agent header without an op');
    const b = (h as { bytes?: unknown }).bytes;
    if (b !== undefined && !(typeof b === 'number' && Number.isSafeInteger(b) && b >= 0)) throw new Error('a peer agent header with a bad byte count');
    return h as PeerHeader;
  }

  /** Hands `bytes` payload bytes to `sink` chunk by chunk. */
  async payload(bytes: number, sink: (chunk: Buffer, at: number) => void): Promise<void> {
    let at = 0;
    while (at < bytes) {
      await this.need(1);
      const n = Math.min(this.have, bytes - at, this.chunks[0].length);
      sink(this.take(n), at);
      at += n;
    }
  }
}

export function writeHeader(socket: net.Socket, h: PeerHeader): void {
  const body = Buffer.from(JSON.stringify(h), 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  socket.write(Buffer.concat([head, body]));
}

/** Writes a payload chunk by chunk, waiting for the socket to drain. */
export async function writePayload(socket: net.Socket, read: (at: number, max: number) => Promise<Buffer>, bytes: number): Promise<void> {
  const step = 4 * 1024 * 1024;
  for (let at = 0; at < bytes; ) {
    const chunk = await read(at, Math.min(step, bytes - at));
    if (chunk.length === 0) throw new Error('the snapshot file ended early');
    at += chunk.length;
    if (!socket.write(chunk)) await new Promise<void>((r, j) => {
      socket.once('drain', r);
      socket.once('close', () => j(new Error('the peer agent connection closed')));
    });
  }
}

export type PeerHandler = (h: PeerHeader, reader: SocketReader, socket: net.Socket, from: string) => Promise<void>;

/** The serving side: checks each connection's token proof, then hands its one request to `handler`. */
export class PeerServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly token: string, private readonly runId: string, handler: PeerHandler, private readonly log: (line: string) => void) {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.setNoDelay(true);
      const reader = new SocketReader(socket);
      const nonce = randomBytes(16).toString('hex');
      writeHeader(socket, { op: 'challenge', nonce });
      const timer = setTimeout(() => socket.destroy(), 10_000);
      (async () => {
        const hello = await reader.header();
        const node = typeof hello.node === 'string' ? hello.node : '';
        const proof = typeof hello.mac === 'string' ? Buffer.from(hello.mac, 'hex') : Buffer.alloc(0);
        const want = mac(this.token, `eh-agent-memory-hello|${this.runId}|${nonce}|${node}`);
        if (hello.op !== 'hello' || proof.length !== want.length || !timingSafeEqual(proof, want)) {
          this.log(`memory tier: refused a peer connection from ${socket.remoteAddress ?? '?'}: bad token proof (wrong job token, or another job)`);
          writeHeader(socket, { op: 'refused', error: 'bad token proof' });
          socket.end();
          return;
        }
        clearTimeout(timer);
        writeHeader(socket, { op: 'welcome', mac: mac(this.token, `eh-agent-memory-welcome|${this.runId}|${nonce}|${node}`).toString('hex') });
        const req = await reader.header();
        await handler(req, reader, socket, node);
        socket.end();
      })().catch((err: unknown) => {
        clearTimeout(timer);
        if (!socket.destroyed) {
          writeHeader(socket, { op: 'error', error: err instanceof Error ? err.message : String(err) });
          socket.end();
        }
      });
    });
  }

  async listen(host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port: 0 }, () => resolve());
    });
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

/** Opens an authenticated connection to a peer agent; resolves with its reader once both sides proved the token. */
export async function connectPeer(p: PeerEndpoint, token: string, runId: string, self: string, timeoutMs: number): Promise<{ socket: net.Socket; reader: SocketReader }> {
  const socket = net.connect({ host: p.host, port: p.port });
  socket.setNoDelay(true);
  const reader = new SocketReader(socket);
  const timer = setTimeout(() => socket.destroy(new Error(`the agent of node ${p.nodeId} at ${p.host}:${p.port} did not answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const ch = await reader.header();
    if (ch.op !== 'challenge' || typeof ch.nonce !== 'string') throw new Error(`the agent of node ${p.nodeId} did not send a challenge`);
    writeHeader(socket, { op: 'hello', node: self, mac: mac(token, `eh-agent-memory-hello|${runId}|${ch.nonce}|${self}`).toString('hex') });
    const w = await reader.header();
    const want = mac(token, `eh-agent-memory-welcome|${runId}|${ch.nonce}|${self}`);
    const got = typeof w.mac === 'string' ? Buffer.from(w.mac, 'hex') : Buffer.alloc(0);
    if (w.op !== 'welcome' || got.length !== want.length || !timingSafeEqual(got, want)) throw new Error(`the agent of node ${p.nodeId} refused us or could not prove the job token (${String(w.error ?? w.op)})`);
    return { socket, reader };
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
