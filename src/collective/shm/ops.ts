import { viewLike, type ReducibleArray } from '../dtypes.js';
import type { RecvSpec } from '../inbound.js';
import { Op, partRange, type OpDesc, type OpHost } from '../ops.js';
import { reduceInto } from '../reduce.js';
import { encodeHeader } from '../wire.js';
import type { SharedAllocation, SharedSegments } from './segments.js';

/** Phases are numbered 3 × window + phase in the header's 16-bit step field. */
const MAX_WINDOWS = Math.floor(0x10000 / 3);

/**
 * Elements per window for a call of `count` elements: as many as `windowBytes` holds, widened when a
 * very small window would need more windows than the step field can number. A function of the call
 * and the (equal) settings alone, so every rank cuts the same windows.
 */
export function shmWindowElems(count: number, bytesPerElement: number, windowBytes: number): number {
  return Math.max(1, Math.floor(windowBytes / bytesPerElement), Math.ceil(count / MAX_WINDOWS));
}

/** One shared file per rank that every rank must map: a bigger segment, or an allocation. */
export interface ShmExchange {
  /** Make and map this rank's file; '' or why not. */
  create(): string;
  /** Map every peer's; '' or why not. */
  mapPeers(): string;
  unlinkOwn(): void;
  /** Every rank mapped every file. */
  commit(): void;
  /** Some rank failed (`why`, as far as this rank knows). */
  abandon(why: string): void;
}

/**
 * Every rank makes its shared file and maps everyone else's, in two rounds whose one-byte payload
 * says whether that rank succeeded, so that all ranks reach the same verdict: either all switch to
 * the new files, or none does. Each rank unlinks its file once the second round proves every peer
 * has mapped it.
 */
export class ShmAgree extends Op {
  private readonly flags: Buffer[] = [];
  private readonly step: number[];
  private readonly got = [0, 0];
  private readonly ok = [true, true];
  private readonly mine = [Buffer.alloc(1), Buffer.alloc(1)];
  private failure = '';
  private readonly said = [false, false];
  private finished = false;

  constructor(
    host: OpHost,
    seq: number,
    desc: OpDesc,
    private readonly exchange: ShmExchange,
  ) {
    super(host, seq, desc);
    this.step = new Array<number>(this.n).fill(0);
    for (let p = 0; p < this.n; p++) {
      this.flags.push(Buffer.alloc(2));
      if (p !== this.r) this.expect(p, 2);
    }
  }

  protected begin(): void {
    this.failure = this.exchange.create();
    this.say(0, this.failure === '');
  }

  private say(step: number, ok: boolean): void {
    this.ok[step] &&= ok;
    this.mine[step][0] = ok ? 1 : 0;
    this.said[step] = true;
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.sendTo(p, encodeHeader(this.header(step, 0, 1)), this.mine[step]);
    this.advance();
  }

  nextRecv(peer: number): RecvSpec | null {
    if (peer === this.r || this.step[peer] > 1) return null;
    const s = this.step[peer]++;
    const dest = this.flags[peer].subarray(s, s + 1);
    return {
      expect: this.header(s, 0, 1),
      dest,
      done: () => {
        this.ok[s] &&= dest[0] === 1;
        this.got[s]++;
        this.advance();
        this.received(peer);
      },
    };
  }

  /** Move to the next round once this rank and all its peers have spoken in this one. */
  private advance(): void {
    const all = this.n - 1;
    if (this.said[0] && this.got[0] === all && !this.said[1]) {
      if (this.ok[0]) this.failure = this.exchange.mapPeers();
      else if (this.failure === '') this.failure = 'another rank could not make its segment';
      this.say(1, this.ok[0] && this.failure === '');
    } else if (this.said[1] && this.got[1] === all && !this.finished) {
      this.finished = true;
      this.exchange.unlinkOwn();
      if (this.ok[1]) this.exchange.commit();
      else this.exchange.abandon(this.failure || 'another rank could not map the segments');
    }
  }
}

/**
 * allReduce through shared memory, for ranks on one host. The buffer is taken in windows of at most
 * `windowElems` elements (so a segment stays bounded, whatever the model size); in each window rank
 * r owns part r (partRange of the window). Three phases per window, each closed by an empty message
 * to every peer:
 *   0. copy the parts this rank does not own into its own segment;
 *   1. reduce part r from its own buffer and every peer's segment, into its buffer and its segment;
 *   2. copy every other part's result from its owner's segment.
 * The phase-2 message says "done reading your segment", so the next window (or call) may overwrite
 * it. Every byte crosses memory once or twice, instead of twice through the kernel on each socket hop.
 */
export class ShmAllReduce extends Op {
  /** Messages received per step (step = 3 × window + phase). */
  private readonly got: number[];
  private readonly step: number[];
  private readonly windows: number;

  constructor(
    host: OpHost,
    seq: number,
    desc: OpDesc,
    private readonly buf: ReducibleArray,
    private readonly shm: SharedSegments,
    private readonly windowElems: number,
  ) {
    super(host, seq, desc);
    this.windows = Math.max(1, Math.ceil(buf.length / windowElems));
    this.got = new Array<number>(3 * this.windows).fill(0);
    this.step = new Array<number>(this.n).fill(0);
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.expect(p, 3 * this.windows);
  }

  /** Element range [start, length) of part `p` of window `w`, in buffer coordinates. */
  private part(w: number, p: number): [number, number] {
    const w0 = w * this.windowElems;
    const wl = Math.min(this.buf.length, w0 + this.windowElems) - w0;
    const [st, len] = partRange(wl, this.n, p);
    return [w0 + st, len];
  }

  /** A typed view of a segment whose element 0 is element `w0` of the buffer. */
  private segView(seg: Buffer | null, w0: number): ReducibleArray {
    if (seg === null) throw new Error('shared segment not mapped');
    return viewLike(this.buf, seg.buffer, seg.byteOffset, Math.min(this.windowElems, this.buf.length - w0));
  }

  protected begin(): void {
    this.exposeWindow(0);
  }

  private exposeWindow(w: number): void {
    const w0 = w * this.windowElems;
    const own = this.segView(this.shm.own, w0);
    for (let p = 0; p < this.n; p++) {
      if (p === this.r) continue;
      const [st, len] = this.part(w, p);
      own.set(this.buf.subarray(st, st + len), st - w0);
    }
    this.signal(3 * w);
  }

  private signal(step: number): void {
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.sendTo(p, encodeHeader(this.header(step, 0, 0)), null);
  }

  nextRecv(peer: number): RecvSpec | null {
    if (peer === this.r || this.step[peer] >= 3 * this.windows) return null;
    const s = this.step[peer]++;
    return {
      expect: this.header(s, 0, 0),
      dest: null,
      done: () => {
        // Each peer's messages arrive in order, and a peer only sends step s+1 after hearing
        // everyone's step s, so all of step s+1 in implies all of step s in.
        if (++this.got[s] === this.n - 1) {
          const w = Math.floor(s / 3);
          const phase = s % 3;
          if (phase === 0) this.reduceOwnPart(w);
          else if (phase === 1) this.gatherParts(w);
          else if (w + 1 < this.windows) this.exposeWindow(w + 1);
        }
        this.received(peer);
      },
    };
  }

  private reduceOwnPart(w: number): void {
    const w0 = w * this.windowElems;
    const [st, len] = this.part(w, this.r);
    const own = this.segView(this.shm.own, w0).subarray(st - w0, st - w0 + len);
    const peers: ReducibleArray[] = [];
    for (let p = 0; p < this.n; p++) if (p !== this.r) peers.push(this.segView(this.shm.peers[p], w0).subarray(st - w0, st - w0 + len));
    // One pass, block by block (in the add-on or in JavaScript): the result is still in cache when
    // it is copied out to the peers.
    reduceInto(this.desc.dtype, this.desc.redop ?? 'sum', this.buf.subarray(st, st + len), peers, this.n, own);
    this.signal(3 * w + 1);
  }

  private gatherParts(w: number): void {
    const w0 = w * this.windowElems;
    for (let p = 0; p < this.n; p++) {
      if (p === this.r) continue;
      const [st, len] = this.part(w, p);
      this.buf.set(this.segView(this.shm.peers[p], w0).subarray(st - w0, st - w0 + len), st);
    }
    this.signal(3 * w + 2);
  }
}

/**
 * allReduce of a buffer from allocateShared, on every rank: each rank reads its peers' buffers
 * directly, so nothing is staged. Three phases, each closed by an empty message to every peer:
 *   0. "my buffer holds my contribution" (peers may read it from now on);
 *   1. reduce part r from this rank's buffer and every peer's, in place;
 *   2. copy every other part's result from its owner's buffer.
 * The call completes only when every peer's phase-2 message is in: until then a peer may still be
 * reading this rank's part, so the caller must not write into the buffer yet. The header's offset
 * carries the view's byte offset in the allocation, and its root the allocation's number, so ranks
 * passing different views report a mismatch instead of reading the wrong memory.
 */
export class ShmZeroCopyAllReduce extends Op {
  private readonly got = [0, 0, 0];
  private readonly step: number[];
  private readonly peers: (ReducibleArray | null)[];

  constructor(
    host: OpHost,
    seq: number,
    desc: OpDesc,
    private readonly buf: ReducibleArray,
    alloc: SharedAllocation,
  ) {
    super(host, seq, desc);
    this.step = new Array<number>(this.n).fill(0);
    this.peers = alloc.peers.map((m) => (m === null ? null : viewLike(buf, m.buffer, m.byteOffset + alloc.byteOffset, buf.length)));
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.expect(p, 3);
  }

  protected begin(): void {
    this.signal(0);
  }

  private signal(step: number): void {
    for (let p = 0; p < this.n; p++) if (p !== this.r) this.sendTo(p, encodeHeader(this.header(step, this.buf.byteOffset, 0)), null);
  }

  private peer(p: number): ReducibleArray {
    const v = this.peers[p];
    if (v === null) throw new Error(`rank ${String(p)}'s allocation is not mapped`);
    return v;
  }

  nextRecv(peer: number): RecvSpec | null {
    if (peer === this.r || this.step[peer] >= 3) return null;
    const s = this.step[peer]++;
    return {
      expect: this.header(s, this.buf.byteOffset, 0),
      dest: null,
      done: () => {
        if (++this.got[s] === this.n - 1) {
          if (s === 0) this.reduceOwnPart();
          else if (s === 1) this.gatherParts();
        }
        this.received(peer);
      },
    };
  }

  private reduceOwnPart(): void {
    const [st, len] = partRange(this.buf.length, this.n, this.r);
    const peers: ReducibleArray[] = [];
    for (let p = 0; p < this.n; p++) if (p !== this.r) peers.push(this.peer(p).subarray(st, st + len));
    reduceInto(this.desc.dtype, this.desc.redop ?? 'sum', this.buf.subarray(st, st + len), peers, this.n);
    this.signal(1);
  }

  private gatherParts(): void {
    for (let p = 0; p < this.n; p++) {
      if (p === this.r) continue;
      const [st, len] = partRange(this.buf.length, this.n, p);
      this.buf.set(this.peer(p).subarray(st, st + len), st);
    }
    this.signal(2);
  }
}
