/**
 * The data-direction wire format. Every message is a fixed 40-byte header, then `payloadBytes` of
 * raw element bytes (little-endian, the typed array's own memory). The header names the call (op,
 * dtype, reduce op, element count, root, call number) and the piece (step, byte offset), so that a
 * rank receiving anything other than what it expects reports a mismatch instead of mixing data.
 */
export const HEADER_BYTES = 40;
export const MAGIC = 0xec1c;

export const enum Kind {
  Data = 1,
  Ack = 2,
}

/** User-level calls, as named in errors. */
export const enum UserOp {
  AllReduce = 1,
  Broadcast = 2,
  AllGather = 3,
  ReduceScatter = 4,
  Barrier = 5,
  Exchange = 6,
}

export const USER_OP_NAMES: Record<number, string> = {
  1: 'allReduce',
  2: 'broadcast',
  3: 'allGather',
  4: 'reduceScatter',
  5: 'barrier',
  6: 'exchange',
};

/** Which algorithm carries the call; part of the match because sender and receiver must agree on it. */
export const enum Algo {
  None = 0,
  Ring = 1,
  Direct = 2,
  Chain = 3,
  /** Same-host shared memory: only phase signals travel on the sockets. */
  Shm = 4,
  /** Agreeing on and mapping bigger shared-memory segments. */
  ShmGrow = 5,
  /** allReduce of buffers from allocateShared: ranks read each other's buffers, nothing staged. */
  ShmZeroCopy = 6,
  /** Agreeing on and mapping an allocation (allocateShared). */
  ShmAlloc = 7,
}

export const REDOP_CODES = { sum: 0, avg: 1, max: 2, min: 3 } as const;
export const REDOP_NAMES = ['sum', 'avg', 'max', 'min'];
export const NO_REDOP = 255;

export interface Header {
  kind: number;
  userOp: number;
  dtype: number;
  redop: number;
  algo: number;
  step: number;
  seq: number;
  root: number;
  count: number;
  offset: number;
  payloadBytes: number;
}

export function encodeHeader(h: Header): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt16LE(MAGIC, 0);
  b.writeUInt8(h.kind, 2);
  b.writeUInt8(h.userOp, 3);
  b.writeUInt8(h.dtype, 4);
  b.writeUInt8(h.redop, 5);
  b.writeUInt16LE(h.step, 6);
  b.writeUInt32LE(h.seq >>> 0, 8);
  b.writeUInt32LE(h.root >>> 0, 12);
  b.writeDoubleLE(h.count, 16);
  b.writeDoubleLE(h.offset, 24);
  b.writeUInt32LE(h.payloadBytes >>> 0, 32);
  b.writeUInt32LE(h.algo >>> 0, 36);
  return b;
}

/** Decode; undefined when the magic is wrong (not our protocol, or a stream out of step). */
export function decodeHeader(b: Buffer): Header | undefined {
  if (b.readUInt16LE(0) !== MAGIC) return undefined;
  return {
    kind: b.readUInt8(2),
    userOp: b.readUInt8(3),
    dtype: b.readUInt8(4),
    redop: b.readUInt8(5),
    step: b.readUInt16LE(6),
    seq: b.readUInt32LE(8),
    root: b.readUInt32LE(12),
    count: b.readDoubleLE(16),
    offset: b.readDoubleLE(24),
    payloadBytes: b.readUInt32LE(32),
    algo: b.readUInt32LE(36),
  };
}
