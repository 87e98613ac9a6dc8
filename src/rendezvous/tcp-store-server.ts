import net from 'node:net';
import { ConfigurationError, DistributedSetupError, describeError } from '../errors/index.js';
import { StoreTimeoutError } from './errors.js';
import { formatEndpoint } from './endpoint.js';
import { FrameDecoder, encodeFrame } from './framing.js';
import { stderrLogger, type StoreLogger } from './logger.js';
import { MemoryStore } from './memory-store.js';
import { MAX_AUTH_FRAME_BYTES, MAX_FRAME_BYTES, type StoreReply, type StoreRequest } from './tcp-protocol.js';
import { checkToken, tokensEqual } from './token.js';

export interface TcpStoreServerOptions {
  /** Address to listen on; default 127.0.0.1. Use 0.0.0.0 (or the node's address) for a multi-node job. */
  host?: string;
  /** Port; 0 (default) picks a free one, read it back from `.port`. */
  port?: number;
  /** The job's token; every connection must present it first. */
  token: string;
  /** Where refusals and faults are reported; default stderr. */
  logger?: StoreLogger;
  /** A connection that has not authenticated within this time is closed; default 10 s. */
  authTimeoutMs?: number;
  /** Serve this store's data (default: a new MemoryStore). */
  store?: MemoryStore;
}

/**
 * The embedded TCP store an agent hosts (torch's TCPStore counterpart). Data lives in this process;
 * when it exits, every client's calls reject with DistributedSetupError.
 */
export class TcpStoreServer {
  readonly store: MemoryStore;
  private readonly sockets = new Set<net.Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    private readonly token: string,
    private readonly logger: StoreLogger,
    private readonly authTimeoutMs: number,
    store: MemoryStore,
  ) {
    this.store = store;
  }

  static async start(options: TcpStoreServerOptions): Promise<TcpStoreServer> {
    checkToken(options.token, 'TcpStoreServer.start');
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigurationError(`TcpStoreServer port must be 0..65535, got ${String(port)}`);
    const server = net.createServer();
    const self = new TcpStoreServer(server, options.token, options.logger ?? stderrLogger, options.authTimeoutMs ?? 10_000, options.store ?? new MemoryStore());
    server.on('connection', (socket) => self.accept(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new DistributedSetupError(`The TCP store could not listen on ${formatEndpoint(host, port)}: ${describeError(err)}`, {
          cause: err,
          suggestions: ['Pick another port (or 0 for a free one), or stop whatever already listens there.'],
        }));
      };
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => self.logger(`server error: ${describeError(err)}`));
    return self;
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr !== null ? addr.port : 0;
  }

  get host(): string {
    const addr = this.server.address();
    return typeof addr === 'object' && addr !== null ? addr.address : '';
  }

  /** `host:port` clients connect to (0.0.0.0 is given as 127.0.0.1, reachable from this machine). */
  get endpoint(): string {
    const host = this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host;
    return formatEndpoint(host, this.port);
  }

  /** Number of authenticated and pending connections (for tests and diagnostics). */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Stop listening, drop every connection (their pending calls reject), free the data. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const s of this.sockets) s.destroy();
      await closed;
      await this.store.close();
    })();
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5_000);
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const decoder = new FrameDecoder(MAX_AUTH_FRAME_BYTES);
    const cancels = new Set<(err: Error) => void>();
    let authed = false;
    const authTimer = setTimeout(() => {
      this.logger(`refused store connection from ${peer}: no token presented within ${this.authTimeoutMs} ms`);
      socket.destroy();
    }, this.authTimeoutMs);
    authTimer.unref();

    const send = (msg: unknown): void => {
      if (!socket.destroyed && socket.writable) socket.write(encodeFrame(msg));
    };

    socket.on('data', (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.logger(`closing store connection from ${peer}: bad frame (${describeError(err)})`);
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (socket.destroyed) return;
        if (!authed) {
          const f = frame as { t?: unknown; token?: unknown } | null;
          if (f === null || typeof f !== 'object' || f.t !== 'auth' || typeof f.token !== 'string' || !tokensEqual(f.token, this.token)) {
            clearTimeout(authTimer);
            this.logger(`refused store connection from ${peer}: wrong or missing token`);
            socket.end(encodeFrame({ t: 'auth', ok: false, message: 'wrong token' }));
            socket.destroySoon();
            return;
          }
          authed = true;
          clearTimeout(authTimer);
          decoder.maxFrameBytes = MAX_FRAME_BYTES;
          send({ t: 'auth', ok: true });
          continue;
        }
        this.handle(frame, send, cancels);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(authTimer);
      this.sockets.delete(socket);
      const gone = new DistributedSetupError('client went away');
      for (const cancel of [...cancels]) cancel(gone);
    });
  }

  private handle(frame: unknown, send: (msg: StoreReply) => void, cancels: Set<(err: Error) => void>): void {
    const req = frame as StoreRequest;
    const id = typeof req?.id === 'number' ? req.id : -1;
    const fail = (err: unknown): void => {
      if (err instanceof StoreTimeoutError) send({ id, ok: false, code: 'timeout', message: err.problem, missing: err.missingKeys });
      else if (err instanceof ConfigurationError) send({ id, ok: false, code: 'invalid', message: err.problem });
      else send({ id, ok: false, code: 'error', message: describeError(err) });
    };
    const s = this.store;
    try {
      switch (req.op) {
        case 'get':
          send({ id, ok: true, value: s.getSync(req.key) ?? null });
          return;
        case 'set':
          s.setSync(req.key, req.value, req.ttlMs === undefined ? undefined : { ttlMs: req.ttlMs });
          send({ id, ok: true });
          return;
        case 'cas': {
          const r = s.compareAndSetSync(req.key, req.expected ?? undefined, req.desired, req.ttlMs === undefined ? undefined : { ttlMs: req.ttlMs });
          send({ id, ok: true, value: { ok: r.ok, current: r.current ?? null } });
          return;
        }
        case 'add':
          send({ id, ok: true, value: s.addSync(req.key, req.delta) });
          return;
        case 'wait': {
          const { promise, cancel } = s.waitCancellable(req.keys, req.timeoutMs ?? Infinity);
          cancels.add(cancel);
          promise.then(
            () => send({ id, ok: true }),
            (err: unknown) => fail(err),
          ).finally(() => cancels.delete(cancel));
          return;
        }
        case 'delete':
          send({ id, ok: true, value: s.deleteSync(req.key) });
          return;
        case 'keys':
          send({ id, ok: true, value: s.keysSync(req.prefix) });
          return;
        case 'ping':
          send({ id, ok: true });
          return;
        default:
          send({ id, ok: false, code: 'invalid', message: `unknown store operation ${JSON.stringify((req as { op?: unknown })?.op)}` });
      }
    } catch (err) {
      fail(err);
    }
  }
}
