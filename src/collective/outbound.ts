import type net from 'node:net';

export type ControlMessage =
  | { t: 'abort'; kind: 'peer-lost' | 'timeout' | 'mismatch' | 'aborted'; message: string; lostRank?: number; waitingFor?: number[] }
  | { t: 'bye' }
  /** "Still here": sent on idle cross-host links, so that a peer cut off without a reset is noticed. */
  | { t: 'hb' };

/** Control frames travel against the data direction: [u32 length][JSON]. They are rare and tiny. */
export function encodeControl(msg: ControlMessage): Buffer {
  const body = Buffer.from(JSON.stringify(msg), 'utf8');
  const b = Buffer.allocUnsafe(4 + body.length);
  b.writeUInt32LE(body.length, 0);
  body.copy(b, 4);
  return b;
}

export const MAX_CONTROL_BYTES = 1 << 20;

/** Splits a byte stream into control frames. */
export class ControlDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ControlMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: ControlMessage[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (len > MAX_CONTROL_BYTES) throw new Error(`control frame of ${String(len)} bytes exceeds the limit`);
      if (this.buf.length < 4 + len) break;
      out.push(JSON.parse(this.buf.subarray(4, 4 + len).toString('utf8')) as ControlMessage);
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

/** The sending end of our data stream to one peer (the socket that peer opened to us). */
export class OutboundChannel {
  constructor(
    readonly peer: number,
    readonly socket: net.Socket,
  ) {}

  /**
   * Header and payload leave in one writev; the payload is a view of the caller's memory, which must
   * stay unchanged until `cb` runs (Node keeps a reference, it does not copy).
   */
  bytesOut = 0;

  send(header: Buffer, payload: Buffer | null, cb: (err?: Error | null) => void): void {
    const s = this.socket;
    this.bytesOut += header.length + (payload?.length ?? 0);
    if (payload !== null && payload.length > 0) {
      s.cork();
      s.write(header);
      s.write(payload, cb);
      s.uncork();
    } else {
      s.write(header, cb);
    }
  }
}
