import type net from 'node:net';
import { HEADER_BYTES, decodeHeader, type Header } from './wire.js';

/** What the current collective expects next from one peer: the header fields to match and where the payload goes. */
export interface RecvSpec {
  /** Header fields that must match exactly (kind, userOp, dtype, redop, algo, seq, root, count, step, offset, payloadBytes). */
  expect: Header;
  /** Destination of the payload (length === expect.payloadBytes); often a view of the user's own array. */
  dest: Buffer | null;
  /** Called synchronously once the payload is in `dest`. */
  done: () => void;
}

export interface RecvSource {
  /** The next message expected from `peer`, or null when this collective expects nothing more from it. */
  nextRecv(peer: number): RecvSpec | null;
}

export interface InboundEvents {
  /** A header that does not match the spec (or is garbage). */
  onMismatch(peer: number, got: Header | undefined, spec: RecvSpec): void;
  onProtocolError(peer: number, message: string): void;
}

/**
 * The receiving end of one peer's data stream. The socket reads straight into the destination we
 * name (Node's `onread` with a buffer-producing function): headers into a 40-byte buffer, payloads
 * into the user's array or a staging area, so no per-read allocation and no copy. When a header
 * arrives that the current collective does not expect yet (the peer is ahead of us), reading stops
 * and the kernel holds the rest, which is the natural back-pressure for a peer running ahead.
 */
export class InboundChannel {
  readonly header = Buffer.allocUnsafeSlow(HEADER_BYTES);
  private headerFilled = 0;
  private dest: Buffer | null = null;
  private destFilled = 0;
  private spec: RecvSpec | null = null;
  /** A header read while no spec was available. */
  private pending: Header | null = null;
  // When reading is stopped, Node has already asked for the buffer of the next read; this one byte
  // receives that read after resume, and is moved to its real place.
  private readonly stallByte = Buffer.allocUnsafeSlow(1);
  private discard: Buffer | null = null;
  private stalled = false;
  private socket: net.Socket | null = null;
  source: RecvSource | null = null;
  private dead = false;

  constructor(
    readonly peer: number,
    private readonly events: InboundEvents,
  ) {}

  /** The `onread` option for net.connect. */
  onread(): { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean } {
    return { buffer: () => this.nextBuffer(), callback: (n, buf) => this.onRead(n, buf) };
  }

  /** Read from `socket` from its first byte (a fresh connection attempt starts from a clean state). */
  attach(socket: net.Socket): void {
    this.socket = socket;
    this.headerFilled = 0;
    this.dest = null;
    this.destFilled = 0;
    this.spec = null;
    this.pending = null;
    this.stalled = false;
  }

  /** Stop handling input for good (the group failed or closed); bytes still coming are read and dropped, so EOF is seen. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    this.source = null;
    this.discard = Buffer.allocUnsafe(64 << 10);
    if (this.stalled && this.socket !== null && !this.socket.destroyed) this.socket._read(0);
  }

  private nextBuffer(): Uint8Array {
    if (this.discard !== null) return this.discard;
    if (this.stalled) return this.stallByte;
    if (this.dest !== null) return this.dest.subarray(this.destFilled);
    return this.header.subarray(this.headerFilled);
  }

  /** Bytes read so far (diagnostics). */
  bytesIn = 0;

  private onRead(n: number, buf: Uint8Array): boolean {
    this.bytesIn += n;
    if (this.dead) return true;
    if (buf === this.stallByte) {
      // The read went to the stall byte: put it where it belongs, then go on as if read there.
      if (this.dest !== null) this.dest[this.destFilled] = this.stallByte[0];
      else this.header[this.headerFilled] = this.stallByte[0];
      n = 1;
    }
    return this.advance(n);
  }

  private advance(n: number): boolean {
    if (this.dest !== null) {
      this.destFilled += n;
      if (this.destFilled < this.dest.length) return true;
      return this.complete();
    }
    this.headerFilled += n;
    if (this.headerFilled < HEADER_BYTES) return true;
    this.headerFilled = 0;
    const h = decodeHeader(this.header);
    if (h === undefined) {
      this.events.onProtocolError(this.peer, 'a message without the collective header magic (stream out of step or not our protocol)');
      this.kill();
      return true;
    }
    return this.take(h);
  }

  /** Match a header against the current collective; false stops reading. */
  private take(h: Header): boolean {
    const spec = this.source?.nextRecv(this.peer) ?? null;
    if (spec === null) {
      this.pending = h;
      this.stalled = true;
      return false;
    }
    if (!headersMatch(h, spec.expect)) {
      this.events.onMismatch(this.peer, h, spec);
      this.kill();
      return true;
    }
    this.spec = spec;
    if (h.payloadBytes === 0) return this.complete();
    this.dest = spec.dest;
    this.destFilled = 0;
    return true;
  }

  private complete(): boolean {
    const spec = this.spec;
    this.dest = null;
    this.spec = null;
    spec?.done();
    return !this.stalled;
  }

  /** One line of state for EH_COLLECTIVE_DEBUG reports. */
  debugState(): string {
    return JSON.stringify({ bytesIn: this.bytesIn, peer: this.peer, stalled: this.stalled, pending: this.pending?.seq, hf: this.headerFilled, dest: this.dest?.length, df: this.destFilled, src: this.source !== null, dead: this.dead, reading: (this.socket as unknown as { _handle?: { reading?: boolean } })?._handle?.reading });
  }

  /** A new collective started: deliver a header that was waiting for it, and read again. */
  kick(): void {
    if (this.dead || !this.stalled || this.pending === null) return;
    const h = this.pending;
    this.pending = null;
    this.stalled = false;
    const goOn = this.take(h);
    if (goOn && this.socket !== null && !this.socket.destroyed) this.socket._read(0);
  }
}

function headersMatch(a: Header, b: Header): boolean {
  return (
    a.kind === b.kind &&
    a.userOp === b.userOp &&
    a.dtype === b.dtype &&
    a.redop === b.redop &&
    a.algo === b.algo &&
    a.seq === b.seq &&
    a.root === b.root &&
    a.count === b.count &&
    a.step === b.step &&
    a.offset === b.offset &&
    a.payloadBytes === b.payloadBytes
  );
}
