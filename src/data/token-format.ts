/**
 * The token file's layout, little-endian:
 *
 *   offset 0   8 bytes  magic "EHTOKENS"
 *          8   u32      format version (TOKEN_FORMAT_VERSION)
 *         12   u32      bytes per token: 2 (u16) or 4 (u32)
 *         16   u64      token count T
 *         24   u64      document count D
 *         32   T tokens
 *  32 + T*b    (D + 1) u64 document start offsets, in tokens (the first 0, the last T)
 *
 * The index comes after the tokens so a builder can stream tokens without knowing their number; the header's
 * counts are written last, and the file is renamed into place only when whole, so a file with the right
 * name is either complete or was damaged later (which the size check catches).
 */
export const TOKEN_MAGIC = 'EHTOKENS';
export const TOKEN_FORMAT_VERSION = 1;
export const TOKEN_HEADER_BYTES = 32;
export type TokenWidth = 2 | 4;

export interface TokenHeader {
  version: number;
  tokenBytes: TokenWidth;
  tokenCount: number;
  documentCount: number;
}

export function encodeHeader(h: TokenHeader): Buffer {
  const b = Buffer.alloc(TOKEN_HEADER_BYTES);
  b.write(TOKEN_MAGIC, 0, 'ascii');
  b.writeUInt32LE(h.version, 8);
  b.writeUInt32LE(h.tokenBytes, 12);
  b.writeBigUInt64LE(BigInt(h.tokenCount), 16);
  b.writeBigUInt64LE(BigInt(h.documentCount), 24);
  return b;
}

/** The size a whole file of this header has. */
export function expectedFileSize(h: Pick<TokenHeader, 'tokenBytes' | 'tokenCount' | 'documentCount'>): number {
  return TOKEN_HEADER_BYTES + h.tokenCount * h.tokenBytes + (h.documentCount + 1) * 8;
}
