import { bytesOf, viewLike, DTYPES, type CollectiveArray, type DTypeName, type ReduceOp, type ReducibleArray } from './dtypes.js';
import { reduceInto } from './reduce.js';
import type { RecvSource, RecvSpec } from './inbound.js';
import { Algo, Kind, NO_REDOP, REDOP_CODES, REDOP_NAMES, USER_OP_NAMES, UserOp, encodeHeader as encodeHeaderFor, type Header } from './wire.js';

/** What an operation needs from its group. */
export interface OpHost {
  readonly rank: number;
  readonly worldSize: number;
  send(peer: number, header: Buffer, payload: Buffer | null, cb: (err?: Error | null) => void): void;
  /** A grow-only, 8-byte-aligned scratch buffer private to the group, at least `bytes` long. */
  scratch(name: string, bytes: number): Buffer;
  /** A write to `peer` failed: the peer is gone. */
  writeFailed(peer: number, err: Error): void;
}

export interface OpDesc {
  userOp: UserOp;
  dtype: DTypeName;
  redop: ReduceOp | undefined;
  algo: Algo;
  count: number;
  root: number;
}

export function describeCall(userOp: number, dtype: number | DTypeName, redop: number | ReduceOp | undefined, count: number, root: number, seq: number): string {
  const op = USER_OP_NAMES[userOp] ?? `op#${String(userOp)}`;
  const dt = typeof dtype === 'number' ? (DTYPES[dtype] ?? `dtype#${String(dtype)}`) : dtype;
  const red = typeof redop === 'number' ? (redop === NO_REDOP ? undefined : REDOP_NAMES[redop]) : redop;
  const parts: string[] = [];
  if (red !== undefined) parts.push(red);
  if (userOp !== UserOp.Barrier) parts.push(dt, `${String(count)} elements`);
  if (userOp === UserOp.Broadcast) parts.push(`src ${String(root)}`);
  return `${op}(${parts.join(', ')}) call #${String(seq)}`;
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/**
 * One collective call on one rank. Subclasses say what to send at the start, what to expect from
 * each peer (in order), and what to do with each piece; the base counts pieces in and out and
 * completes once everything expected arrived and every send left this process, so the caller's
 * array is never changed or handed back while Node still reads from it.
 */
export abstract class Op implements RecvSource {
  readonly promise: Promise<void>;
  private resolveFn!: () => void;
  private rejectFn!: (err: Error) => void;
  private sendsLeft = 0;
  private recvLeft = 0;
  /** Pieces still expected, per peer (for timeout messages). */
  readonly expected: number[];
  /** Sends not yet handed to the kernel, per peer. */
  readonly unsent: number[];
  private begun = false;
  settled = false;
  protected readonly n: number;
  protected readonly r: number;

  constructor(
    protected readonly host: OpHost,
    readonly seq: number,
    readonly desc: OpDesc,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // Callers may await later or not at all (the group's failure is also reported by the next call).
    this.promise.catch(() => undefined);
    this.n = host.worldSize;
    this.r = host.rank;
    this.expected = new Array<number>(this.n).fill(0);
    this.unsent = new Array<number>(this.n).fill(0);
  }

  get label(): string {
    return describeCall(this.desc.userOp, this.desc.dtype, this.desc.redop, this.desc.count, this.desc.root, this.seq);
  }

  /** Peers this op receives from (their inbound channels are pointed at it). */
  peersToHear(): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.n; p++) if (this.expected[p] > 0) out.push(p);
    return out;
  }

  protected expect(peer: number, pieces: number): void {
    this.expected[peer] += pieces;
    this.recvLeft += pieces;
  }

  /** Called by the group when the op's turn comes. */
  start(): void {
    this.begin();
    this.begun = true;
    this.check();
  }

  protected abstract begin(): void;
  abstract nextRecv(peer: number): RecvSpec | null;

  protected header(step: number, offset: number, payloadBytes: number): Header {
    return {
      kind: Kind.Data,
      userOp: this.desc.userOp,
      dtype: DTYPES.indexOf(this.desc.dtype),
      redop: this.desc.redop === undefined ? NO_REDOP : REDOP_CODES[this.desc.redop],
      algo: this.desc.algo,
      step,
      // The wire carries 32 bits; compare in the same width so call 2^32 still matches.
      seq: this.seq >>> 0,
      root: this.desc.root,
      count: this.desc.count,
      offset,
      payloadBytes,
    };
  }

  protected sendTo(peer: number, header: Buffer, payload: Buffer | null): void {
    this.sendsLeft++;
    this.unsent[peer]++;
    this.host.send(peer, header, payload, (err) => {
      if (err) {
        this.host.writeFailed(peer, err);
        return;
      }
      this.sendsLeft--;
      this.unsent[peer]--;
      this.check();
    });
  }

  protected received(peer: number): void {
    this.expected[peer]--;
    this.recvLeft--;
    this.check();
  }

  private check(): void {
    if (this.settled || !this.begun || this.recvLeft > 0 || this.sendsLeft > 0) return;
    this.settled = true;
    this.resolveFn();
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }
}

interface Layout {
  /** Start element of each of `parts` parts, plus the end. */
  starts: number[];
  chunkElems: number;
}

function layout(count: number, parts: number, chunkElems: number): Layout {
  const starts: number[] = [];
  for (let i = 0; i <= parts; i++) starts.push(Math.floor((i * count) / parts));
  return { starts, chunkElems };
}

function subCount(l: Layout, part: number): number {
  const len = l.starts[part + 1] - l.starts[part];
  return Math.ceil(len / l.chunkElems);
}

function subRange(l: Layout, part: number, j: number): [number, number] {
  const start = l.starts[part] + j * l.chunkElems;
  const end = Math.min(l.starts[part + 1], start + l.chunkElems);
  return [start, end - start];
}

/**
 * Chunk size for a ring: at most `chunkBytes`, and small enough that a segment has about 8 chunks
 * (down to 128 KiB), so that mid-sized buffers are pipelined too instead of moving as one piece per
 * step. A function of the call alone, so every rank cuts the same chunks.
 */
function ringChunkElems(count: number, n: number, es: number, chunkBytes: number): number {
  const segBytes = Math.ceil(count / n) * es;
  const bytes = Math.min(chunkBytes, Math.max(128 << 10, Math.ceil(segBytes / 8)));
  return Math.max(1, Math.floor(bytes / es));
}

/** Element range of rank `i`'s part when `count` elements are split over `n` ranks (reduceScatter). */
export function partRange(count: number, n: number, i: number): [number, number] {
  const s = Math.floor((i * count) / n);
  return [s, Math.floor(((i + 1) * count) / n) - s];
}

/**
 * Ring allreduce: reduce-scatter then allgather, 2(n-1) steps, each segment cut into chunks that
 * stream through the ring: a chunk is reduced the moment it arrives and sent on at once, so the
 * reduction of one chunk overlaps the transfer of the next. Each chunk's final value is computed by
 * one rank (its owner) and copied bit for bit to the others, so every rank ends bit-identical.
 * With `scatterOnly`, stops after the reduce-scatter: rank r then holds the reduced part r.
 */
export class RingAllReduce extends Op {
  private readonly bytes: Buffer;
  private readonly es: number;
  private readonly lay: Layout;
  private readonly redop: ReduceOp;
  private readonly lastStep: number;
  private readonly next: number;
  private readonly prev: number;
  private rs = 0;
  private rj = 0;

  constructor(host: OpHost, seq: number, desc: OpDesc, private readonly buf: ReducibleArray, chunkBytes: number, scatterOnly: boolean) {
    super(host, seq, desc);
    const n = this.n;
    this.bytes = bytesOf(buf);
    this.es = buf.BYTES_PER_ELEMENT;
    this.lay = layout(buf.length, n, ringChunkElems(buf.length, n, this.es, chunkBytes));
    this.redop = desc.redop ?? 'sum';
    this.lastStep = scatterOnly ? n - 2 : 2 * n - 3;
    this.next = mod(this.r + 1, n);
    this.prev = mod(this.r - 1, n);
    let total = 0;
    for (let s = 0; s <= this.lastStep; s++) total += subCount(this.lay, this.recvSeg(s));
    this.expect(this.prev, total);
  }

  private sendSeg(s: number): number {
    return mod(this.r - 1 - s, this.n);
  }

  private recvSeg(s: number): number {
    return mod(this.r - 2 - s, this.n);
  }

  protected begin(): void {
    const seg = this.sendSeg(0);
    const k = subCount(this.lay, seg);
    for (let j = 0; j < k; j++) this.sendPiece(0, seg, j);
  }

  private sendPiece(step: number, seg: number, j: number): void {
    const [st, len] = subRange(this.lay, seg, j);
    const es = this.es;
    const payload = this.bytes.subarray(st * es, (st + len) * es);
    this.sendTo(this.next, encodeHeaderFor(this.header(step, st * es, len * es)), payload);
  }

  nextRecv(peer: number): RecvSpec | null {
    if (peer !== this.prev) return null;
    while (this.rs <= this.lastStep && this.rj >= subCount(this.lay, this.recvSeg(this.rs))) {
      this.rs++;
      this.rj = 0;
    }
    if (this.rs > this.lastStep) return null;
    const s = this.rs;
    const j = this.rj++;
    const seg = this.recvSeg(s);
    const [st, len] = subRange(this.lay, seg, j);
    const es = this.es;
    const reducing = s < this.n - 1;
    const dest = reducing ? this.host.scratch('stage', len * es).subarray(0, len * es) : this.bytes.subarray(st * es, (st + len) * es);
    return {
      expect: this.header(s, st * es, len * es),
      dest,
      done: () => {
        if (reducing) {
          // The last reducing step is this chunk's final touch (avg divides there).
          reduceInto(this.desc.dtype, this.redop, this.buf.subarray(st, st + len), [viewLike(this.buf, dest.buffer, dest.byteOffset, len)], s === this.n - 2 ? this.n : 0);
        }
        if (s + 1 <= this.lastStep) this.sendPiece(s + 1, seg, j);
        this.received(this.prev);
      },
    };
  }
}

/**
 * Latency path for small buffers: every rank sends its whole buffer to every other rank in one
 * round, then each rank reduces all n contributions in rank order 0..n-1 (the same order
 * everywhere, so the same bits everywhere).
 */
export class DirectAllReduce extends Op {
  private readonly copy: Buffer;
  private readonly slots: Buffer[] = [];
  private readonly got: boolean[];
  private left: number;

  constructor(host: OpHost, seq: number, desc: OpDesc, private readonly buf: ReducibleArray) {
    super(host, seq, desc);
    const len = buf.byteLength;
    // Our contribution is sent from a copy: the result overwrites `buf` while sends may be in flight.
    this.copy = host.scratch('send', len).subarray(0, len);
    for (let p = 0; p < this.n; p++) {
      this.slots.push(p === this.r ? this.copy : host.scratch(`slot${String(p)}`, len).subarray(0, len));
      if (p !== this.r) this.expect(p, 1);
    }
    this.got = new Array<boolean>(this.n).fill(false);
    this.left = this.n - 1;
  }

  protected begin(): void {
    bytesOf(this.buf).copy(this.copy);
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.sendTo(p, encodeHeaderFor(this.header(0, 0, this.copy.length)), this.copy);
  }

  nextRecv(peer: number): RecvSpec | null {
    if (peer === this.r || this.got[peer]) return null;
    this.got[peer] = true;
    return {
      expect: this.header(0, 0, this.copy.length),
      dest: this.slots[peer],
      done: () => {
        if (--this.left === 0) this.reduce();
        this.received(peer);
      },
    };
  }

  private reduce(): void {
    const buf = this.buf;
    const view = (p: number): ReducibleArray => viewLike(buf, this.slots[p].buffer, this.slots[p].byteOffset, buf.length);
    const others: ReducibleArray[] = [];
    for (let p = 1; p < this.n; p++) others.push(view(p));
    buf.set(view(0));
    reduceInto(this.desc.dtype, this.desc.redop ?? 'sum', buf, others, this.n);
  }
}

/** Broadcast: small buffers straight from the root to everyone; large ones down a pipelined chain. */
export class Broadcast extends Op {
  private readonly bytes: Buffer;
  private readonly lay: Layout;
  private readonly pos: number;
  private readonly next: number;
  private readonly prev: number;
  private rj = 0;
  private readonly pieces: number;

  constructor(host: OpHost, seq: number, desc: OpDesc, buf: CollectiveArray, chunkBytes: number) {
    super(host, seq, desc);
    this.bytes = bytesOf(buf);
    const chain = desc.algo === Algo.Chain;
    // The chain cuts the whole buffer (as bytes) into chunks; direct sends it whole.
    this.lay = layout(this.bytes.length, 1, chain ? Math.max(1, chunkBytes) : Math.max(1, this.bytes.length));
    this.pieces = Math.max(1, subCount(this.lay, 0));
    this.pos = mod(this.r - desc.root, this.n);
    this.next = mod(this.r + 1, this.n);
    this.prev = mod(this.r - 1, this.n);
    if (this.r !== desc.root) this.expect(chain ? this.prev : desc.root, this.pieces);
  }

  private piece(j: number): [number, number] {
    return this.bytes.length === 0 ? [0, 0] : subRange(this.lay, 0, j);
  }

  protected begin(): void {
    if (this.r !== this.desc.root) return;
    for (let j = 0; j < this.pieces; j++) {
      const [st, len] = this.piece(j);
      const payload = this.bytes.subarray(st, st + len);
      if (this.desc.algo === Algo.Chain) this.sendTo(this.next, encodeHeaderFor(this.header(0, st, len)), payload);
      else for (let p = 0; p < this.n; p++) if (p !== this.r) this.sendTo(p, encodeHeaderFor(this.header(0, st, len)), payload);
    }
  }

  nextRecv(peer: number): RecvSpec | null {
    const from = this.desc.algo === Algo.Chain ? this.prev : this.desc.root;
    if (peer !== from || this.r === this.desc.root || this.rj >= this.pieces) return null;
    const j = this.rj++;
    const [st, len] = this.piece(j);
    const dest = this.bytes.subarray(st, st + len);
    return {
      expect: this.header(0, st, len),
      dest,
      done: () => {
        if (this.desc.algo === Algo.Chain && this.pos < this.n - 1) this.sendTo(this.next, encodeHeaderFor(this.header(0, st, len)), dest);
        this.received(peer);
      },
    };
  }
}

/**
 * allGather: rank p's input lands in block p of the output. Ring (pipelined chunks, each received
 * straight into the output and forwarded from there) or, for small inputs, one direct round.
 */
export class AllGather extends Op {
  private readonly out: Buffer;
  private readonly blockBytes: number;
  private readonly lay: Layout;
  private readonly next: number;
  private readonly prev: number;
  private rs = 0;
  private rj = 0;
  private readonly gotDirect: boolean[];

  constructor(host: OpHost, seq: number, desc: OpDesc, private readonly input: CollectiveArray, private readonly output: CollectiveArray, chunkBytes: number) {
    super(host, seq, desc);
    this.out = bytesOf(output);
    this.blockBytes = input.byteLength;
    this.lay = layout(this.blockBytes, 1, Math.max(1, chunkBytes));
    this.next = mod(this.r + 1, this.n);
    this.prev = mod(this.r - 1, this.n);
    this.gotDirect = new Array<boolean>(this.n).fill(false);
    const pieces = this.piecesPerBlock();
    if (desc.algo === Algo.Ring) this.expect(this.prev, pieces * (this.n - 1));
    else for (let p = 0; p < this.n; p++) if (p !== this.r) this.expect(p, 1);
  }

  private piecesPerBlock(): number {
    return Math.max(1, subCount(this.lay, 0));
  }

  private piece(j: number): [number, number] {
    return this.blockBytes === 0 ? [0, 0] : subRange(this.lay, 0, j);
  }

  protected begin(): void {
    const mine = this.r * this.blockBytes;
    const src = bytesOf(this.input);
    if (!(src.buffer === this.out.buffer && src.byteOffset === this.out.byteOffset + mine)) src.copy(this.out, mine);
    if (this.desc.algo === Algo.Ring) {
      for (let j = 0; j < this.piecesPerBlock(); j++) this.sendPiece(0, this.r, j);
    } else {
      const payload = this.out.subarray(mine, mine + this.blockBytes);
      for (let p = 0; p < this.n; p++) if (p !== this.r) this.sendTo(p, encodeHeaderFor(this.header(0, mine, this.blockBytes)), payload);
    }
  }

  private sendPiece(step: number, block: number, j: number): void {
    const [st, len] = this.piece(j);
    const off = block * this.blockBytes + st;
    this.sendTo(this.next, encodeHeaderFor(this.header(step, off, len)), this.out.subarray(off, off + len));
  }

  nextRecv(peer: number): RecvSpec | null {
    if (this.desc.algo !== Algo.Ring) {
      if (peer === this.r || this.gotDirect[peer]) return null;
      this.gotDirect[peer] = true;
      const off = peer * this.blockBytes;
      return { expect: this.header(0, off, this.blockBytes), dest: this.out.subarray(off, off + this.blockBytes), done: () => this.received(peer) };
    }
    if (peer !== this.prev) return null;
    if (this.rj >= this.piecesPerBlock()) {
      this.rs++;
      this.rj = 0;
    }
    if (this.rs > this.n - 2) return null;
    const s = this.rs;
    const j = this.rj++;
    const block = mod(this.r - s - 1, this.n);
    const [st, len] = this.piece(j);
    const off = block * this.blockBytes + st;
    return {
      expect: this.header(s, off, len),
      dest: this.out.subarray(off, off + len),
      done: () => {
        if (s + 1 <= this.n - 2) this.sendPiece(s + 1, block, j);
        this.received(this.prev);
      },
    };
  }
}

/** Barrier: an empty message to and from every peer. */
export class Barrier extends Op {
  private readonly got: boolean[];

  constructor(host: OpHost, seq: number, desc: OpDesc) {
    super(host, seq, desc);
    this.got = new Array<boolean>(this.n).fill(false);
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.expect(p, 1);
  }

  protected begin(): void {
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.sendTo(p, encodeHeaderFor(this.header(0, 0, 0)), null);
  }

  nextRecv(peer: number): RecvSpec | null {
    if (peer === this.r || this.got[peer]) return null;
    this.got[peer] = true;
    return { expect: this.header(0, 0, 0), dest: null, done: () => this.received(peer) };
  }
}
