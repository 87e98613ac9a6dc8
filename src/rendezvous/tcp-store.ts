import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigurationError, DistributedSetupError, describeError } from '../errors/index.js';
import { StoreTimeoutError, StoreUnavailableError } from './errors.js';
import { parseEndpoint } from './endpoint.js';
import { FrameDecoder, encodeFrame } from './framing.js';
import type { CompareAndSetResult, SetOptions, Store } from './store.js';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION, type StoreReply, type StoreRequest } from './tcp-protocol.js';
import { checkToken } from './token.js';
import { MAX_TIMER_MS, checkDelta, checkKey, checkKeys, checkTimeout, checkTtl, checkValue } from './validate.js';

export interface TcpStoreConnectOptions {
  /** `host:port` of the agent hosting the TcpStoreServer. */
  endpoint: string;
  /** The job's token. */
  token: string;
  /** How long to keep trying (the host agent may start a little later); default 30 s. */
  timeoutMs?: number;
  /**
   * Bound on any call other than wait() (whose own timeout applies); default 60 s. A server that
   * stops answering is then reported instead of hanging the caller.
   */
  requestTimeoutMs?: number;
  /**
   * While calls are pending, ping the server this often, and give the connection up when nothing at
   * all has come back for 3 intervals: a host that froze or vanished without closing its sockets is
   * then detected in seconds, not at TCP's own timeouts. Default 2 s.
   */
  heartbeatMs?: number;
  /** Stop trying to connect when this aborts (the connect rejects with its reason). */
  signal?: AbortSignal;
}

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void; timer?: NodeJS.Timeout };

// Distributive Omit, so each operation keeps its own fields.
type RequestBody = StoreRequest extends infer R ? (R extends StoreRequest ? Omit<R, 'id'> : never) : never;

/** Client of a TcpStoreServer. Requests are pipelined on one connection, matched by id. */
export class TcpStore implements Store {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: StoreUnavailableError | undefined;
  private lastReceived = Date.now();
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(
    readonly endpoint: string,
    private readonly socket: net.Socket,
    decoder: FrameDecoder,
    private readonly requestTimeoutMs: number,
    private readonly heartbeatMs: number,
  ) {
    // An idle client must not keep its process alive (a worker that forgets close() still exits);
    // call() refs the socket while answers are awaited.
    socket.unref();
    socket.on('data', (chunk: Buffer) => {
      this.lastReceived = Date.now();
      let frames: unknown[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.fail(`bad frame from the store at ${endpoint}: ${describeError(err)}`);
        socket.destroy();
        return;
      }
      for (const f of frames) this.onReply(f as StoreReply);
    });
    socket.on('error', (err) => this.fail(`Lost the connection to the store at ${endpoint}: ${describeError(err)}`));
    socket.on('close', () => this.fail(`Lost the connection to the store at ${endpoint} (closed by the other side)`));
  }

  static async connect(options: TcpStoreConnectOptions): Promise<TcpStore> {
    const { host, port } = parseEndpoint(options.endpoint);
    checkToken(options.token, 'TcpStore.connect');
    const timeoutMs = checkTimeout(options.timeoutMs ?? 30_000, 'TcpStore.connect timeoutMs');
    const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    const heartbeatMs = options.heartbeatMs ?? 2_000;
    if (!(heartbeatMs > 0) || heartbeatMs > MAX_TIMER_MS) throw new ConfigurationError(`TcpStore heartbeatMs must be a positive number of milliseconds, got ${String(heartbeatMs)}`);
    const endpoint = options.endpoint;
    const deadline = Date.now() + timeoutMs;
    let delay = 25;
    let lastError: string;
    const abort = options.signal;
    for (let attempt = 1; ; attempt++) {
      abort?.throwIfAborted();
      const left = deadline - Date.now();
      let socket: net.Socket | undefined;
      try {
        socket = await openSocket(host, port, Math.max(left, 1), abort);
        abort?.throwIfAborted();
        const decoder = new FrameDecoder(MAX_FRAME_BYTES);
        await authenticate(socket, decoder, options.token, endpoint, Math.max(deadline - Date.now(), 1_000));
        abort?.throwIfAborted();
        return new TcpStore(endpoint, socket, decoder, requestTimeoutMs, heartbeatMs);
      } catch (err) {
        if (abort?.aborted === true) {
          socket?.destroy();
          throw abort.reason;
        }
        if (err instanceof DistributedSetupError) throw err; // refused: retrying cannot help
        lastError = describeError(err);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new StoreUnavailableError(`Could not connect to the store at ${endpoint} within ${timeoutMs} ms (${attempt} attempts; last error: ${lastError})`, {
          context: { endpoint },
          suggestions: [`Check that the agent hosting the store is running and listens on ${endpoint} (--rdzv-endpoint), and that no firewall blocks it.`],
        });
      }
      await sleep(Math.min(delay, remaining), undefined, { signal: abort }).catch((err: unknown) => {
        throw abort?.aborted === true ? abort.reason : err;
      });
      delay = Math.min(delay * 2, 1_000);
    }
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    const v = await this.call({ op: 'get', key });
    return v === null || v === undefined ? undefined : (v as string);
  }

  async set(key: string, value: string, options?: SetOptions): Promise<void> {
    checkKey(key);
    checkValue(value, key);
    const ttlMs = checkTtl(options, key);
    await this.call(ttlMs === undefined ? { op: 'set', key, value } : { op: 'set', key, value, ttlMs });
  }

  async compareAndSet(key: string, expected: string | undefined, desired: string, options?: SetOptions): Promise<CompareAndSetResult> {
    checkKey(key);
    if (expected !== undefined) checkValue(expected, key);
    checkValue(desired, key);
    const ttlMs = checkTtl(options, key);
    const body: RequestBody = { op: 'cas', key, expected: expected ?? null, desired };
    if (ttlMs !== undefined) body.ttlMs = ttlMs;
    const r = (await this.call(body)) as { ok: boolean; current: string | null };
    return { ok: r.ok, current: r.current ?? undefined };
  }

  async add(key: string, delta: number): Promise<number> {
    checkKey(key);
    checkDelta(delta, key);
    return (await this.call({ op: 'add', key, delta })) as number;
  }

  async wait(keys: string[], timeoutMs: number): Promise<void> {
    checkKeys(keys);
    checkTimeout(timeoutMs, 'wait() timeoutMs');
    // The server times the wait; our own guard only catches a server that stopped answering.
    await this.call({ op: 'wait', keys, timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : null }, Number.isFinite(timeoutMs) ? timeoutMs + this.requestTimeoutMs : Infinity);
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return (await this.call({ op: 'delete', key })) as boolean;
  }

  async keys(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new ConfigurationError(`keys() prefix must be a string, got ${typeof prefix}`);
    return (await this.call({ op: 'keys', prefix })) as string[];
  }

  /** Round trip to the server (liveness check). */
  async ping(): Promise<void> {
    await this.call({ op: 'ping' });
  }

  /** True once the connection is gone (lost or closed); every call then rejects. */
  get isClosed(): boolean {
    return this.failure !== undefined;
  }

  async close(): Promise<void> {
    if (this.failure === undefined) this.fail(`The store client for ${this.endpoint} was closed`);
    await new Promise<void>((resolve) => {
      if (this.socket.destroyed) resolve();
      else {
        this.socket.once('close', () => resolve());
        this.socket.destroy();
      }
    });
  }

  private call(body: RequestBody, timeoutMs = this.requestTimeoutMs): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = { resolve, reject };
      // Beyond setTimeout's range Node would fire after 1 ms: treat such bounds as none.
      if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_MS) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          if (this.pending.size === 0) this.socket.unref();
          reject(new StoreUnavailableError(`The store at ${this.endpoint} did not answer a ${body.op} request within ${timeoutMs} ms`, { context: { endpoint: this.endpoint } }));
        }, timeoutMs);
      }
      if (this.pending.size === 0) this.socket.ref();
      this.pending.set(id, p);
      this.socket.write(encodeFrame({ ...body, id }));
      this.armHeartbeat();
    });
  }

  /** Runs only while calls are pending, so an idle client costs nothing and never keeps a process alive. */
  private armHeartbeat(): void {
    if (this.heartbeat !== undefined) return;
    this.lastReceived = Date.now(); // silence while idle is no sign of trouble
    this.heartbeat = setInterval(() => {
      if (this.pending.size === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
        return;
      }
      const silent = Date.now() - this.lastReceived;
      if (silent > 3 * this.heartbeatMs) {
        this.fail(`Lost the connection to the store at ${this.endpoint}: no answer for ${silent} ms (the host is frozen or unreachable)`);
        return;
      }
      if (silent >= this.heartbeatMs) this.call({ op: 'ping' }).catch(() => undefined);
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  private onReply(reply: StoreReply): void {
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.socket.unref();
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (reply.ok) p.resolve(reply.value);
    else if (reply.code === 'timeout') p.reject(new StoreTimeoutError(reply.message, reply.missing ?? [], { context: { endpoint: this.endpoint } }));
    else if (reply.code === 'invalid') p.reject(new ConfigurationError(reply.message));
    else p.reject(new DistributedSetupError(`The store at ${this.endpoint} failed a request: ${reply.message}`));
  }

  private fail(message: string): void {
    if (this.failure !== undefined) return;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.failure = new StoreUnavailableError(message, {
      context: { endpoint: this.endpoint },
      suggestions: ['The agent hosting the TCP store has probably exited: the job must re-rendezvous (with etcd, the store survives any one node).'],
    });
    for (const [id, p] of this.pending) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(this.failure);
    }
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

function openSocket(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // An abort destroys the socket, which ends the attempt with an error (the caller then rethrows the abort's reason).
    const socket = net.connect({ host, port, signal });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 5_000);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

function authenticate(socket: net.Socket, decoder: FrameDecoder, token: string, endpoint: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const refused = (why: string): DistributedSetupError =>
      new DistributedSetupError(`The store at ${endpoint} refused this agent: ${why}`, {
        context: { endpoint },
        suggestions: ['Every agent and worker of a job must use the same token (--rdzv-conf token=... or EH_TOKEN).'],
      });
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
    };
    const onData = (chunk: Buffer): void => {
      let frames: unknown[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        cleanup();
        socket.destroy();
        reject(new DistributedSetupError(`The store at ${endpoint} answered with a bad frame: ${describeError(err)}`, { context: { endpoint } }));
        return;
      }
      const reply = frames[0] as { t?: unknown; ok?: unknown } | undefined;
      if (reply === undefined) return;
      cleanup();
      if (reply.t === 'auth' && reply.ok === true) resolve();
      else {
        socket.destroy();
        reject(refused('the token does not match the job token'));
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(refused('the connection was closed during the token check (wrong token, or not an elastic-harness store)'));
    };
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(refused(`no answer to the token check within ${timeoutMs} ms (is this an elastic-harness store?)`));
    }, timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    socket.write(encodeFrame({ t: 'auth', token, v: PROTOCOL_VERSION }));
  });
}
