import type { RecvSpec } from './inbound.js';
import { Op, type OpDesc, type OpHost } from './ops.js';
import { encodeHeader, Kind, NO_REDOP, type Header } from './wire.js';

/** One byte buffer sent to `peers` (the sender's own part), or received from `src` into `buf`. */
export interface ExchangeSend {
  buf: Uint8Array;
  peers: number[];
}
export interface ExchangeRecv {
  src: number;
  buf: Uint8Array;
}

/**
 * A sparse exchange: every rank calls it together (so it takes one call number like any collective
 * and mismatch detection still holds), but bytes travel only along the pairs named, each message
 * cut into chunkBytes pieces. Each piece's header names the sender (root) and the sender's buffer
 * length (count), so that a receiver expecting another size or sender reports a mismatch.
 */
export class Exchange extends Op {
  private readonly recvs = new Map<number, { buf: Buffer; pieces: number; next: number }>();

  constructor(
    host: OpHost,
    seq: number,
    desc: OpDesc,
    private readonly out: ExchangeSend,
    recvs: ExchangeRecv[],
    private readonly chunkBytes: number,
  ) {
    super(host, seq, desc);
    for (const r of recvs) {
      const buf = Buffer.from(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength);
      const pieces = piecesOf(buf.length, chunkBytes);
      this.recvs.set(r.src, { buf, pieces, next: 0 });
      this.expect(r.src, pieces);
    }
  }

  private pieceHeader(sender: number, total: number, offset: number, len: number): Header {
    return { kind: Kind.Data, userOp: this.desc.userOp, dtype: 0, redop: NO_REDOP, algo: this.desc.algo, step: 0, seq: this.seq >>> 0, root: sender, count: total, offset, payloadBytes: len };
  }

  protected begin(): void {
    const bytes = Buffer.from(this.out.buf.buffer, this.out.buf.byteOffset, this.out.buf.byteLength);
    const pieces = piecesOf(bytes.length, this.chunkBytes);
    for (const p of this.out.peers) {
      for (let j = 0; j < pieces; j++) {
        const st = j * this.chunkBytes;
        const len = Math.min(this.chunkBytes, bytes.length - st);
        this.sendTo(p, encodeHeader(this.pieceHeader(this.r, bytes.length, st, len)), bytes.subarray(st, st + len));
      }
    }
  }

  nextRecv(peer: number): RecvSpec | null {
    const r = this.recvs.get(peer);
    if (r === undefined || r.next >= r.pieces) return null;
    const st = r.next++ * this.chunkBytes;
    const len = Math.min(this.chunkBytes, r.buf.length - st);
    return { expect: this.pieceHeader(peer, r.buf.length, st, len), dest: r.buf.subarray(st, st + len), done: () => this.received(peer) };
  }
}

/** An empty buffer still travels as one empty piece, so that both sides agree it was sent. */
function piecesOf(bytes: number, chunk: number): number {
  return Math.max(1, Math.ceil(bytes / chunk));
}
