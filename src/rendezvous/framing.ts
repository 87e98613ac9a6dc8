/**
 * Frames on the store's TCP connections: a 4-byte big-endian length, then that many bytes of UTF-8
 * JSON. Simple to implement in any language, and a reader never has to guess where a message ends.
 */
export const FRAME_HEADER_BYTES = 4;

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

export class FrameTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`frame of ${size} bytes exceeds the limit of ${limit}`);
  }
}

/** Accumulates chunks and returns every whole frame, parsed. */
export class FrameDecoder {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(public maxFrameBytes: number) {}

  push(chunk: Buffer): unknown[] {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const out: unknown[] = [];
    while (this.bufferedBytes >= FRAME_HEADER_BYTES) {
      const head = this.peek(FRAME_HEADER_BYTES);
      const size = head.readUInt32BE(0);
      if (size > this.maxFrameBytes) throw new FrameTooLargeError(size, this.maxFrameBytes);
      if (this.bufferedBytes < FRAME_HEADER_BYTES + size) break;
      const all = this.take(FRAME_HEADER_BYTES + size);
      out.push(JSON.parse(all.subarray(FRAME_HEADER_BYTES).toString('utf8')) as unknown);
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.buffered[0].length >= n) return this.buffered[0];
    this.buffered = [Buffer.concat(this.buffered)];
    return this.buffered[0];
  }

  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered);
    const rest = all.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return all.subarray(0, n);
  }
}
