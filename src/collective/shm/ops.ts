import { combinerFor, finisherFor, viewLike, type ReducibleArray } from '../dtypes.js';
import type { RecvSpec } from '../inbound.js';
import { Op, partRange, type OpDesc, type OpHost } from '../ops.js';
import { encodeHeader } from '../wire.js';
import type { SharedSegments } from './segments.js';

const BLOCK_BYTES = 128 << 10;

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

/**
 * Every rank makes a shared segment of `cap` bytes and maps everyone else's, in two rounds whose
 * one-byte payload says whether that rank succeeded, so that all ranks reach the same verdict:
 * either all switch to the new segments, or all keep this size on the sockets. Each rank unlinks its
 * file once the second round proves every peer has mapped it.
 */
export class ShmGrow extends Op {
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
    private readonly shm: SharedSegments,
    private readonly bytes: number,
    private readonly cap: number,
    private readonly report: (why: string) => void,
  ) {
    super(host, seq, desc);
    this.step = new Array<number>(this.n).fill(0);
    for (let p = 0; p < this.n; p++) {
      this.flags.push(Buffer.alloc(2));
      if (p !== this.r) this.expect(p, 2);
    }
  }

  protected begin(): void {
    this.failure = this.shm.createOwn(this.cap);
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
      if (this.ok[0]) this.failure = this.shm.mapPeers(this.cap);
      else if (this.failure === '') this.failure = 'another rank could not make its segment';
      this.say(1, this.ok[0] && this.failure === '');
    } else if (this.said[1] && this.got[1] === all && !this.finished) {
      this.finished = true;
      this.shm.unlinkOwn(this.cap);
      if (this.ok[1]) this.shm.commit(this.cap);
      else {
        this.shm.abandon(this.bytes);
        this.report(this.failure || 'another rank could not map the segments');
      }
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
  private readonly es: number;
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
    this.es = buf.BYTES_PER_ELEMENT;
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
    const combine = combinerFor(this.desc.dtype, this.desc.redop ?? 'sum');
    const finish = finisherFor(this.desc.dtype, this.desc.redop ?? 'sum');
    const own = this.segView(this.shm.own, w0);
    const peers: ReducibleArray[] = [];
    for (let p = 0; p < this.n; p++) if (p !== this.r) peers.push(this.segView(this.shm.peers[p], w0));
    // Block by block, so that the result is still in cache when it is copied out to the peers.
    const block = Math.max(1, BLOCK_BYTES / this.es);
    for (let b = st; b < st + len; b += block) {
      const e = Math.min(st + len, b + block);
      const mine = this.buf.subarray(b, e);
      for (const peer of peers) combine(mine, peer.subarray(b - w0, e - w0));
      finish?.(mine, this.n);
      own.set(mine, b - w0);
    }
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
