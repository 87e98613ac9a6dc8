import { ConfigurationError } from '../errors/index.js';
import { dtypeOf, checkReduceOp, type CollectiveArray, type ReduceOp, type ReducibleArray, type ReducibleDType, type ReducibleOf, viewLike } from './dtypes.js';
import { CollectiveAbortedError, CollectiveError, CollectiveMismatchError, CollectiveTimeoutError, PeerLostError } from './errors.js';
import type { RecvSpec } from './inbound.js';
import { AllGather, Barrier, Broadcast, DirectAllReduce, Op, RingAllReduce, describeCall, partRange, type OpHost } from './ops.js';
import { Exchange, type ExchangeRecv, type ExchangeSend } from './exchange.js';
import { encodeControl, type ControlMessage } from './outbound.js';
import type { PeerLink } from './peer-link.js';
import { ShmAgree, ShmAllReduce, ShmZeroCopyAllReduce, shmWindowElems } from './shm/ops.js';
import type { ShmExchange } from './shm/ops.js';
import { segmentCapacity, type SharedSegments } from './shm/segments.js';
import { Algo, UserOp, type Header } from './wire.js';

export interface ProcessGroupOptions {
  /** Default bound on each collective, in ms (default 300 000). A collective that overruns breaks the group. */
  timeoutMs?: number;
  /** Largest pipelining chunk of the ring and chain algorithms (default 512 KiB). */
  chunkBytes?: number;
  /** Buffers up to this size take the one-round direct path (default 64 KiB). */
  smallBytes?: number;
  /**
   * Let ranks on one host reduce through shared memory (default true; needs the native addon, see
   * the README; EH_COLLECTIVE_SHM=0 also turns it off). Must be the same on every rank.
   */
  sharedMemory?: boolean;
  /**
   * Largest shared segment per rank (default 64 MiB): larger buffers are reduced through it window
   * by window, so /dev/shm use stays bounded whatever the model size. Must be the same on every rank.
   */
  sharedMemoryWindowBytes?: number;
  /**
   * A peer on another host (a TCP link) that has sent nothing, not even a heartbeat, for this long
   * while a collective waits for its data is lost: PeerLostError naming it (default 5 000 ms). A cut
   * link sends no reset, so without this a silent peer is only found at the collective's timeout.
   * Heartbeats come from the peer's event loop: keep this above the longest a worker blocks it
   * (a long synchronous step). Same-host peers (Unix sockets) are found by their sockets' close.
   */
  peerTimeoutMs?: number;
}

export interface CallOptions {
  /** Bound on this call, in ms; default: the group's. */
  timeoutMs?: number;
}

export interface AllGatherOptions<T> extends CallOptions {
  /** Where to gather (length worldSize × input length, same type); default: a new array. */
  output?: T;
}

export const DEFAULT_TIMEOUT_MS = 300_000;
export const DEFAULT_CHUNK_BYTES = 512 << 10;
export const DEFAULT_SMALL_BYTES = 64 << 10;
export const DEFAULT_SHM_WINDOW_BYTES = 64 << 20;
export const DEFAULT_PEER_TIMEOUT_MS = 5_000;
/** Heartbeats per peer timeout: a few, so that one late beat is no death. */
const BEATS_PER_TIMEOUT = 4;

/**
 * One user call: one or more ops run back to back (a call may first have to grow the shared
 * segments), each made when its turn comes, so that it sees the state the ops before it left.
 */
interface Queued {
  steps: (() => Op | null)[];
  timeoutMs: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A process group: a full mesh of authenticated connections between all ranks (Unix sockets between
 * ranks on one host, TCP across hosts) running collectives one at a time, in call order. Any
 * failure (a lost peer, a timeout, a mismatched call, an abort from a peer) breaks the group: every
 * pending and later call rejects with the same CollectiveError at once, and the peers are told.
 */
export class ProcessGroup implements OpHost {
  private readonly queue: Queued[] = [];
  private current: Op | null = null;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private failure: CollectiveError | undefined;
  private closed = false;
  private readonly scratchBufs = new Map<string, Buffer>();
  readonly timeoutMs: number;
  readonly chunkBytes: number;
  readonly smallBytes: number;
  readonly sharedMemoryWindowBytes: number;
  private readonly byeFrom: boolean[];
  private readonly dataClosed: boolean[];
  private onClose: (() => Promise<void>) | undefined;
  readonly peerTimeoutMs: number;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly links: (PeerLink | undefined)[],
    options: ProcessGroupOptions = {},
    onClose?: () => Promise<void>,
    /** Shared segments with the peers, when every rank is on this host and can map them. */
    private readonly shm?: SharedSegments,
  ) {
    this.timeoutMs = checkPositive(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.chunkBytes = checkPositive(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, 'chunkBytes');
    this.smallBytes = checkNonNegative(options.smallBytes ?? DEFAULT_SMALL_BYTES, 'smallBytes');
    this.sharedMemoryWindowBytes = checkPositive(options.sharedMemoryWindowBytes ?? DEFAULT_SHM_WINDOW_BYTES, 'sharedMemoryWindowBytes');
    this.byeFrom = new Array<boolean>(worldSize).fill(false);
    this.dataClosed = new Array<boolean>(worldSize).fill(false);
    this.onClose = onClose;
    this.peerTimeoutMs = checkPositive(options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS, 'peerTimeoutMs');
    for (const link of links) {
      if (link === undefined) continue;
      const p = link.peer;
      link.setHandlers({
        control: (msg) => this.onControl(p, msg),
        closed: (which) => this.onPeerClosed(p, which),
        mismatch: (got, spec) => this.onMismatch(p, got, spec),
        protocolError: (message) => this.fail(new CollectiveAbortedError(`protocol error on the stream from rank ${String(p)} to rank ${String(this.rank)}: ${message}`)),
      });
    }
    this.startHeartbeat();
  }

  /**
   * Beat on every cross-host link, and break the group when a peer the current collective waits for
   * has been silent for peerTimeoutMs. A tick that comes late means this process's own event loop was
   * blocked: the peer's beats may sit unread in the socket, so that tick judges nobody.
   */
  private startHeartbeat(): void {
    const far = this.links.filter((l): l is PeerLink => l !== undefined && l.crossHost);
    if (far.length === 0) return;
    const every = Math.max(50, Math.floor(this.peerTimeoutMs / BEATS_PER_TIMEOUT));
    const beat = encodeControl({ t: 'hb' });
    let lastTick = Date.now();
    // The first beat at once: a peer is judged only once it has been heard, and one cut off right
    // after set-up must be heard before that.
    for (const l of far) l.sendControl(beat);
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      const late = now - lastTick > 2 * every;
      lastTick = now;
      for (const l of far) l.sendControl(beat);
      const op = this.current;
      if (late || op === null) return;
      for (const p of op.peersToHear()) {
        const l = this.links[p];
        // A peer that never beat may still be setting up its group (connecting to a third rank).
        if (l === undefined || !l.crossHost || !l.heard) continue;
        const silent = now - l.lastHeard;
        if (silent > this.peerTimeoutMs) {
          this.peerLost(p, `nothing came from it for ${String(silent)} ms, not even a heartbeat (peerTimeoutMs ${String(this.peerTimeoutMs)})`);
          return;
        }
      }
    }, every);
    this.heartbeat.unref();
  }

  /** A group of one: every collective is the identity (avg divides by 1). */
  static single(options: ProcessGroupOptions = {}): ProcessGroup {
    return new ProcessGroup(0, 1, [undefined], options);
  }

  /** The error that broke the group, if any. */
  get error(): CollectiveError | undefined {
    return this.failure;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether large allReduce calls go through shared memory (every rank on this host, addon loaded). */
  get usesSharedMemory(): boolean {
    return this.shm !== undefined;
  }

  /**
   * How this rank reaches each peer: `unix` (a Unix socket, same host) or `tcp` with the peer's
   * address as the socket sees it. Index = rank (this rank's own entry is undefined).
   */
  connections(): ({ transport: 'unix' | 'tcp'; remote?: string } | undefined)[] {
    return this.links.map((l) => {
      if (l === undefined) return undefined;
      const s = l.inSocket;
      return s.remoteAddress === undefined ? { transport: 'unix' } : { transport: 'tcp', remote: `${s.remoteAddress}:${String(s.remotePort)}` };
    });
  }

  // ---- OpHost ----
  send(peer: number, header: Buffer, payload: Buffer | null, cb: (err?: Error | null) => void): void {
    const link = this.links[peer];
    if (link === undefined) throw new Error(`no link to rank ${String(peer)}`);
    link.outbound.send(header, payload, cb);
  }

  writeFailed(peer: number, err: Error): void {
    if (this.closed) return;
    this.peerLost(peer, `sending to it failed (${err.message})`);
  }

  scratch(name: string, bytes: number): Buffer {
    let b = this.scratchBufs.get(name);
    if (b === undefined || b.length < bytes) {
      b = Buffer.allocUnsafeSlow(Math.max(8, bytes));
      this.scratchBufs.set(name, b);
    }
    return b;
  }

  // ---- collectives ----
  /** Reduce `buf` across all ranks, in place; every rank ends with bit-identical contents. */
  async allReduce<T extends ReducibleArray>(buf: T, op: ReduceOp = 'sum', options: CallOptions = {}): Promise<T> {
    const dtype = dtypeOf(buf, 'allReduce', true);
    const redop = checkReduceOp(op, 'allReduce');
    const timeoutMs = this.callTimeout(options);
    const seq = this.seq++;
    this.throwIfBroken();
    if (this.worldSize === 1) return buf;
    const direct = buf.byteLength <= this.smallBytes;
    const desc = { userOp: UserOp.AllReduce, dtype, redop, algo: direct ? Algo.Direct : Algo.Ring, count: buf.length, root: 0 };
    const shm = this.shm;
    const alloc = direct ? undefined : shm?.allocationOf(buf);
    if (alloc !== undefined) {
      // The copy path's two sequence numbers, so that calls number alike whichever path a rank takes.
      this.seq++;
      await this.run(new ShmZeroCopyAllReduce(this, seq, { ...desc, algo: Algo.ShmZeroCopy, root: alloc.id }, buf, alloc), timeoutMs);
      return buf;
    }
    if (direct || shm === undefined) {
      await this.run(direct ? new DirectAllReduce(this, seq, desc, buf) : new RingAllReduce(this, seq, desc, buf, this.chunkBytes, false), timeoutMs);
      return buf;
    }
    // Two sequence numbers for every call that may go through shared memory, taken now so that
    // calls queued behind this one number the same way on every rank.
    const growSeq = this.seq++;
    const es = buf.BYTES_PER_ELEMENT;
    const windowElems = shmWindowElems(buf.length, es, this.sharedMemoryWindowBytes);
    const need = Math.min(buf.length, windowElems) * es;
    await this.runSteps(
      [
        () => (shm.needsGrow(need) ? new ShmAgree(this, growSeq, { ...desc, algo: Algo.ShmGrow }, this.growExchange(shm, need)) : null),
        () => (shm.usable(need) ? new ShmAllReduce(this, seq, { ...desc, algo: Algo.Shm }, buf, shm, windowElems) : new RingAllReduce(this, seq, desc, buf, this.chunkBytes, false)),
      ],
      timeoutMs,
    );
    return buf;
  }

  /**
   * A zeroed array of `length` elements in shared memory with this rank's peers on this host, so
   * that an allReduce on it (or on a view into it at the same place on every rank) reads and
   * writes the peers' arrays directly instead of staging through segments: the zero-copy path.
   * A collective: every rank calls it with the same length and dtype, in the same order among the
   * other calls. Where the group does not use shared memory (ranks on several hosts, no add-on,
   * sharedMemory off) or some rank cannot make the memory (a full tmpfs), every rank gets an
   * ordinary array instead; allReduce works on either. The memory is freed when the array is
   * garbage-collected on every rank (no file stays behind in /dev/shm, even after a SIGKILL).
   */
  async allocateShared<D extends ReducibleDType = 'float32'>(length: number, dtype?: D, options: CallOptions = {}): Promise<ReducibleOf<D>> {
    const dt = (dtype ?? 'float32') as ReducibleDType;
    if (!(['float32', 'float64', 'int32'] as const).includes(dt)) throw new ConfigurationError(`allocateShared: dtype must be float32, float64 or int32, got ${JSON.stringify(dtype)}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new ConfigurationError(`allocateShared: length must be a non-negative integer, got ${String(length)}`);
    const ctor = dt === 'float32' ? Float32Array : dt === 'float64' ? Float64Array : Int32Array;
    const timeoutMs = this.callTimeout(options);
    this.throwIfBroken();
    const shm = this.shm;
    const bytes = length * ctor.BYTES_PER_ELEMENT;
    if (shm === undefined || this.worldSize === 1 || bytes === 0) return new ctor(length) as ReducibleOf<D>;
    const seq = this.seq++;
    let result: ArrayBuffer | undefined;
    const id = seq;
    const exchange = {
      create: () => shm.createAllocation(id, bytes),
      mapPeers: () => shm.mapPeerAllocations(id, bytes),
      unlinkOwn: () => shm.unlinkAllocation(id, bytes),
      commit: () => {
        result = shm.commitAllocation(id);
      },
      abandon: (why: string) => {
        shm.abandonAllocation();
        process.stderr.write(`[eh collective rank ${String(this.rank)}] allocateShared(${String(length)}, ${dt}) gives an ordinary array (allReduce on it copies through segments): ${why}\n`);
      },
    };
    const desc = { userOp: UserOp.AllReduce, dtype: dt, redop: undefined, algo: Algo.ShmAlloc, count: length, root: 0 };
    await this.run(new ShmAgree(this, seq, desc, exchange), timeoutMs);
    return (result === undefined ? new ctor(length) : new ctor(result, 0, length)) as ReducibleOf<D>;
  }

  /** Whether `buf` lives in this group's shared memory (from allocateShared), so allReduce on it takes the zero-copy path. */
  isShared(buf: ReducibleArray): boolean {
    return this.shm?.allocationOf(buf) !== undefined;
  }

  /** Copy `src`'s `buf` into every rank's `buf`, in place. */
  async broadcast<T extends CollectiveArray>(buf: T, src = 0, options: CallOptions = {}): Promise<T> {
    const dtype = dtypeOf(buf, 'broadcast', false);
    this.checkRank(src, 'broadcast src');
    const timeoutMs = this.callTimeout(options);
    const seq = this.seq++;
    this.throwIfBroken();
    if (this.worldSize === 1) return buf;
    const chain = this.worldSize > 2 && buf.byteLength > this.smallBytes;
    const desc = { userOp: UserOp.Broadcast, dtype, redop: undefined, algo: chain ? Algo.Chain : Algo.Direct, count: buf.length, root: src };
    await this.run(new Broadcast(this, seq, desc, buf, this.chunkBytes), timeoutMs);
    return buf;
  }

  /**
   * A sparse exchange of byte buffers: every rank calls it together (one call number, like any
   * collective), sends `out.buf` to `out.peers` only and receives each `recvs[i].buf` (its exact
   * length) from `recvs[i].src`. Traffic is only along the pairs named, e.g. within replica cliques.
   */
  async exchange(out: ExchangeSend, recvs: ExchangeRecv[], options: CallOptions = {}): Promise<void> {
    if (!(out.buf instanceof Uint8Array) || recvs.some((r) => !(r.buf instanceof Uint8Array))) throw new ConfigurationError('exchange() sends and receives Uint8Array buffers', { configKey: 'buf' });
    for (const p of out.peers) this.checkRank(p, 'exchange peer');
    for (const r of recvs) this.checkRank(r.src, 'exchange src');
    if (out.peers.includes(this.rank) || recvs.some((r) => r.src === this.rank)) throw new ConfigurationError(`exchange() on rank ${String(this.rank)}: a rank does not send to or receive from itself`, { configKey: 'peers' });
    if (new Set(recvs.map((r) => r.src)).size !== recvs.length) throw new ConfigurationError('exchange(): at most one buffer per source rank', { configKey: 'recvs' });
    const timeoutMs = this.callTimeout(options);
    const seq = this.seq++;
    this.throwIfBroken();
    if (this.worldSize === 1) return;
    const desc = { userOp: UserOp.Exchange, dtype: 'uint8' as const, redop: undefined, algo: Algo.Direct, count: 0, root: 0 };
    await this.run(new Exchange(this, seq, desc, out, recvs, this.chunkBytes), timeoutMs);
  }

  /** Gather every rank's `input` into one array, rank-major (rank p's input at p × input.length). */
  async allGather<T extends CollectiveArray>(input: T, options: AllGatherOptions<T> = {}): Promise<T> {
    const dtype = dtypeOf(input, 'allGather', false);
    const n = this.worldSize;
    const output = options.output ?? viewLike(input, new ArrayBuffer(input.byteLength * n), 0, input.length * n);
    if (dtypeOf(output, 'allGather output', false) !== dtype || output.length !== input.length * n) {
      throw new ConfigurationError(`allGather output must be a ${dtype} array of ${String(input.length * n)} elements (world size × input length), got ${String(output.length)}`);
    }
    const timeoutMs = this.callTimeout(options);
    const seq = this.seq++;
    this.throwIfBroken();
    if (n === 1) {
      if (output !== input) output.set(input as never);
      return output;
    }
    const ring = n > 2 && input.byteLength * n > this.smallBytes;
    const desc = { userOp: UserOp.AllGather, dtype, redop: undefined, algo: ring ? Algo.Ring : Algo.Direct, count: input.length, root: 0 };
    await this.run(new AllGather(this, seq, desc, input, output, this.chunkBytes), timeoutMs);
    return output;
  }

  /**
   * Reduce `input` across ranks and return this rank's part of the result: elements
   * [floor(r·L/n), floor((r+1)·L/n)) of the reduction (see partRange). `input` is left unchanged.
   */
  async reduceScatter<T extends ReducibleArray>(input: T, op: ReduceOp = 'sum', options: CallOptions = {}): Promise<T> {
    const dtype = dtypeOf(input, 'reduceScatter', true);
    const redop = checkReduceOp(op, 'reduceScatter');
    const timeoutMs = this.callTimeout(options);
    const seq = this.seq++;
    this.throwIfBroken();
    const work = input.slice() as T;
    const [start, len] = partRange(input.length, this.worldSize, this.rank);
    if (this.worldSize > 1) {
      const desc = { userOp: UserOp.ReduceScatter, dtype, redop, algo: Algo.Ring, count: input.length, root: 0 };
      await this.run(new RingAllReduce(this, seq, desc, work, this.chunkBytes, true), timeoutMs);
    }
    return work.slice(start, start + len) as T;
  }

  /** Resolve once every rank has called barrier(). */
  async barrier(options: CallOptions = {}): Promise<void> {
    const timeoutMs = this.callTimeout(options);
    const seq = this.seq++;
    this.throwIfBroken();
    if (this.worldSize === 1) return;
    await this.run(new Barrier(this, seq, { userOp: UserOp.Barrier, dtype: 'uint8', redop: undefined, algo: Algo.Direct, count: 0, root: 0 }), timeoutMs);
  }

  /** Send a JSON-serialisable value from `src` to every rank; every rank returns it. */
  async broadcastObject<V>(obj: V, src = 0, options: CallOptions = {}): Promise<V> {
    this.checkRank(src, 'broadcastObject src');
    if (this.worldSize === 1) {
      this.throwIfBroken();
      return JSON.parse(toJson(obj)) as V;
    }
    const mine = this.rank === src ? Buffer.from(toJson(obj), 'utf8') : undefined;
    const len = new Float64Array([mine?.length ?? 0]);
    await this.broadcast(len, src, options);
    const bytes = mine !== undefined ? new Uint8Array(mine.buffer, mine.byteOffset, mine.length) : new Uint8Array(len[0]);
    await this.broadcast(bytes, src, options);
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')) as V;
  }

  /**
   * Leave the group: tell the peers (they then see this rank as gone, not crashed), close every
   * connection and listener. Later calls reject with CollectiveAbortedError.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (process.env.EH_COLLECTIVE_DEBUG) process.stderr.write(`[rank ${String(this.rank)}] close: out=${JSON.stringify(this.links.map((l) => l?.outbound.bytesOut))} ${this.links.map((l) => l?.inbound.debugState() ?? '').join(' ')}\n`);
    const err = new CollectiveAbortedError(`the process group of rank ${String(this.rank)} was closed (cleanupDistributed)`, {
      suggestions: ['Call setupDistributedEnvironment() again for a new group.'],
    });
    if (this.failure === undefined) this.breakWith(err);
    const closing: Promise<void>[] = [];
    for (const link of this.links) {
      if (link === undefined) continue;
      link.sendControl(encodeControl({ t: 'bye' }));
      closing.push(link.close(1000));
    }
    await Promise.all(closing);
    this.shm?.close();
    const onClose = this.onClose;
    this.onClose = undefined;
    await onClose?.();
  }

  // ---- machinery ----
  private callTimeout(options: CallOptions): number {
    return options.timeoutMs === undefined ? this.timeoutMs : checkPositive(options.timeoutMs, 'timeoutMs');
  }

  private checkRank(r: number, what: string): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.worldSize) {
      throw new ConfigurationError(`${what} must be a rank in 0..${String(this.worldSize - 1)}, got ${String(r)}`);
    }
  }

  private throwIfBroken(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private run(op: Op, timeoutMs: number): Promise<void> {
    return this.runSteps([() => op], timeoutMs);
  }

  private runSteps(steps: (() => Op | null)[], timeoutMs: number): Promise<void> {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers may await later or not at all (the group's failure is also reported by the next call).
    done.catch(() => undefined);
    this.queue.push({ steps: [...steps], timeoutMs, resolve, reject });
    if (this.current === null) this.pump();
    return done;
  }

  /** Growing the shared segments to hold `need` bytes; on failure calls that large use the sockets. */
  private growExchange(shm: SharedSegments, need: number): ShmExchange {
    const cap = segmentCapacity(need);
    return {
      create: () => shm.createOwn(cap),
      mapPeers: () => shm.mapPeers(cap),
      unlinkOwn: () => shm.unlinkOwn(cap),
      commit: () => shm.commit(cap),
      abandon: (why) => {
        shm.abandon(need);
        this.shmFallback(need, why);
      },
    };
  }

  /** Said when a call is too large for a shared segment (then that size and larger use the sockets). */
  private shmFallback(bytes: number, why: string): void {
    process.stderr.write(`[eh collective rank ${String(this.rank)}] allReduce calls of ${String(bytes)} bytes or more go over the sockets: no shared segment that large (${why}); a smaller sharedMemoryWindowBytes asks for smaller segments\n`);
  }

  /** The next op of the call at the head of the queue, or null when that call is finished. */
  private nextOp(): { op: Op; timeoutMs: number } | null {
    while (this.queue.length > 0) {
      const call = this.queue[0];
      while (call.steps.length > 0) {
        const op = (call.steps.shift() as () => Op | null)();
        if (op !== null) return { op, timeoutMs: call.timeoutMs };
      }
      this.queue.shift();
      call.resolve();
    }
    return null;
  }

  private pump(): void {
    while (this.current === null && this.failure === undefined) {
      let next: { op: Op; timeoutMs: number } | null;
      try {
        next = this.nextOp();
      } catch (err) {
        this.fail(new CollectiveAbortedError(`rank ${String(this.rank)} could not start a collective: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      if (next === null) return;
      const { op, timeoutMs } = next;
      this.current = op;
      const gone = this.departed();
      if (gone !== undefined) {
        this.fail(new PeerLostError(gone, `rank ${String(gone)} left the group (it called cleanupDistributed) before ${op.label} on rank ${String(this.rank)}`, { reportedBy: this.rank }));
        return;
      }
      const hear = op.peersToHear();
      for (const p of hear) (this.links[p] as PeerLink).inbound.source = op;
      this.timer = setTimeout(() => this.fail(this.timeoutError(op, timeoutMs)), timeoutMs);
      op.promise.then(
        () => {
          clearTimeout(this.timer);
          for (const p of hear) {
            const inbound = (this.links[p] as PeerLink).inbound;
            if (inbound.source === op) inbound.source = null;
          }
          this.current = null;
          this.pump();
        },
        () => undefined,
      );
      try {
        op.start();
      } catch (err) {
        this.fail(new CollectiveAbortedError(`rank ${String(this.rank)} could not run ${op.label}: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      // Deliver headers that arrived before this call was made (peers that ran ahead).
      for (const p of hear) (this.links[p] as PeerLink).inbound.kick();
    }
  }

  private timeoutError(op: Op, ms: number): CollectiveTimeoutError {
    const silent = op.peersToHear();
    const unread: number[] = [];
    op.unsent.forEach((k, p) => {
      if (k > 0) unread.push(p);
    });
    const waitingFor = silent.length > 0 ? silent : unread;
    const detail =
      silent.length > 0
        ? `still waiting for data from rank${silent.length > 1 ? 's' : ''} ${silent.join(', ')}`
        : unread.length > 0
          ? `rank${unread.length > 1 ? 's' : ''} ${unread.join(', ')} did not take the data sent to them`
          : 'no progress';
    return new CollectiveTimeoutError(`${op.label} timed out after ${String(ms)} ms on rank ${String(this.rank)}: ${detail}`, waitingFor, { reportedBy: this.rank });
  }

  /** Break the group with `err` and tell every peer. */
  fail(err: CollectiveError): void {
    if (this.failure !== undefined) return;
    this.breakWith(err);
    const msg: ControlMessage = {
      t: 'abort',
      kind: err instanceof PeerLostError ? 'peer-lost' : err instanceof CollectiveTimeoutError ? 'timeout' : err instanceof CollectiveMismatchError ? 'mismatch' : 'aborted',
      message: err.problem,
      lostRank: err instanceof PeerLostError ? err.lostRank : undefined,
      waitingFor: err instanceof CollectiveTimeoutError ? err.waitingFor : undefined,
    };
    const frame = encodeControl(msg);
    for (const link of this.links) if (link !== undefined) link.sendControl(frame);
  }

  private breakWith(err: CollectiveError): void {
    if (process.env.EH_COLLECTIVE_DEBUG && this.current !== null) process.stderr.write(`[rank ${String(this.rank)}] break during ${this.current.label}: expected=${JSON.stringify(this.current.expected)} unsent=${JSON.stringify(this.current.unsent)}: ${err.problem}\n${this.links.map((l) => l?.inbound.debugState() ?? '').join('\n')}\n`);
    this.failure = err;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    this.current?.fail(err);
    for (const q of this.queue.splice(0)) q.reject(err);
    for (const link of this.links) if (link !== undefined) link.inbound.kill();
  }

  private during(): string {
    return this.current !== null ? ` during ${this.current.label}` : '';
  }

  private onControl(peer: number, msg: ControlMessage): void {
    if (msg.t === 'hb') return;
    if (msg.t === 'bye') {
      this.byeFrom[peer] = true;
      this.checkDeparted();
      return;
    }
    if (this.failure !== undefined) return;
    const by = ` (reported by rank ${String(peer)} to rank ${String(this.rank)}${this.during()})`;
    const opts = { reportedBy: peer };
    const err =
      msg.kind === 'peer-lost' && typeof msg.lostRank === 'number'
        ? new PeerLostError(msg.lostRank, msg.message + by, opts)
        : msg.kind === 'timeout'
          ? new CollectiveTimeoutError(msg.message + by, Array.isArray(msg.waitingFor) ? msg.waitingFor : [], opts)
          : msg.kind === 'mismatch'
            ? new CollectiveMismatchError(msg.message + by, opts)
            : new CollectiveAbortedError(msg.message + by, opts);
    // The sender told everyone itself (full mesh); no need to pass it on.
    this.breakWith(err);
  }

  /**
   * A peer's sockets closed. Its two sockets are independent streams, so their events race: a peer
   * that finished its last collective and said goodbye may have its data stream's close seen before
   * the goodbye, or before data still queued on the other socket. So: a close of the control
   * connection without a goodbye is a death; a goodbye means "gone once its data stream ends",
   * which only breaks the group if we still expect data from it (now, or in any later call).
   */
  private onPeerClosed(peer: number, which: 'data' | 'control'): void {
    if (this.closed || this.failure !== undefined) return;
    if (which === 'data') {
      this.dataClosed[peer] = true;
      if (!this.byeFrom[peer]) {
        // Normally the control connection's close (or a goodbye) follows at once.
        setTimeout(() => {
          if (!this.byeFrom[peer]) this.peerLost(peer, 'its data stream closed');
          else this.checkDeparted();
        }, 1000).unref();
        return;
      }
    } else if (!this.byeFrom[peer]) {
      this.peerLost(peer, 'its connection closed');
      return;
    }
    this.checkDeparted();
  }

  private peerLost(peer: number, what: string): void {
    this.fail(new PeerLostError(peer, `rank ${String(peer)} was lost: ${what} (the process died, was killed, or its host is unreachable); detected by rank ${String(this.rank)}${this.during()}`, { reportedBy: this.rank }));
  }

  /** Break the group if the current call still needs a peer that left. */
  private checkDeparted(): void {
    if (this.failure !== undefined || this.closed) return;
    const op = this.current;
    for (let p = 0; p < this.worldSize; p++) {
      if (!this.byeFrom[p]) continue;
      const needed = op !== null && op.expected[p] > 0 && this.dataClosed[p];
      if (needed) {
        this.fail(new PeerLostError(p, `rank ${String(p)} left the group (it called cleanupDistributed) while rank ${String(this.rank)} still needed it${this.during()}`, { reportedBy: this.rank }));
        return;
      }
    }
  }

  /** A call that starts after a peer said goodbye can never complete. */
  private departed(): number | undefined {
    const p = this.byeFrom.indexOf(true);
    return p >= 0 ? p : undefined;
  }

  private onMismatch(peer: number, got: Header | undefined, spec: RecvSpec): void {
    const e = spec.expect;
    const mine = describeCall(e.userOp, e.dtype, e.redop, e.count, e.root, e.seq);
    const theirs = got === undefined ? 'an unreadable message' : describeCall(got.userOp, got.dtype, got.redop, got.count, got.root, got.seq);
    let detail = '';
    if (got !== undefined && got.algo !== e.algo && (got.algo === Algo.ShmZeroCopy || e.algo === Algo.ShmZeroCopy)) {
      detail = ' (one rank passed an array from allocateShared and the other did not: pass the same kind on every rank)';
    } else if (got !== undefined && theirs === mine) {
      detail = got.algo !== e.algo ? ' (different algorithm: the ranks use different smallBytes or sharedMemoryWindowBytes settings)' : ` (step ${String(got.step)}/${String(e.step)}, offset ${String(got.offset)}/${String(e.offset)}, ${String(got.payloadBytes)}/${String(e.payloadBytes)} bytes)`;
    }
    this.fail(new CollectiveMismatchError(`mismatched collective calls: rank ${String(peer)} is in ${theirs} but rank ${String(this.rank)} is in ${mine}${detail}`, { reportedBy: this.rank }));
  }
}

function checkPositive(v: number, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigurationError(`${what} must be a positive number, got ${String(v)}`);
  return v;
}

function checkNonNegative(v: number, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigurationError(`${what} must be a number >= 0, got ${String(v)}`);
  return v;
}

function toJson(obj: unknown): string {
  const s = JSON.stringify(obj);
  if (s === undefined) throw new ConfigurationError(`broadcastObject needs a JSON-serialisable value, got ${typeof obj}`);
  return s;
}
