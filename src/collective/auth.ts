import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Connection proof. The connecting side's first bytes are a hello: magic, its rank, the world size
 * and an HMAC-SHA256 of those under the job token, bound to this group's id (store prefix and restart
 * count) so that a hello cannot be replayed into another job or round. The accepting side answers
 * with its own MAC in the Ack, so each side knows the other holds the token. The token itself never
 * crosses the wire.
 */
export const HELLO_MAGIC = 0x31434845; // 'EHC1' little-endian
export const HELLO_BYTES = 4 + 4 + 4 + 32;
export const MAC_BYTES = 32;

function mac(token: string, text: string): Buffer {
  return createHmac('sha256', token).update(text, 'utf8').digest();
}

export function helloMac(token: string, groupId: string, rank: number, worldSize: number): Buffer {
  return mac(token, `eh-collective-hello|${groupId}|${String(rank)}|${String(worldSize)}`);
}

export function ackMac(token: string, groupId: string, acceptorRank: number, connectorRank: number): Buffer {
  return mac(token, `eh-collective-ack|${groupId}|${String(acceptorRank)}|${String(connectorRank)}`);
}

export function encodeHello(token: string, groupId: string, rank: number, worldSize: number): Buffer {
  const b = Buffer.alloc(HELLO_BYTES);
  b.writeUInt32LE(HELLO_MAGIC, 0);
  b.writeUInt32LE(rank, 4);
  b.writeUInt32LE(worldSize, 8);
  helloMac(token, groupId, rank, worldSize).copy(b, 12);
  return b;
}

export type HelloCheck = { ok: true; rank: number } | { ok: false; reason: string };

export function checkHello(b: Buffer, token: string, groupId: string, worldSize: number): HelloCheck {
  if (b.length < HELLO_BYTES || b.readUInt32LE(0) !== HELLO_MAGIC) return { ok: false, reason: 'not an elastic-harness collective hello' };
  const rank = b.readUInt32LE(4);
  const ws = b.readUInt32LE(8);
  const expected = helloMac(token, groupId, rank, ws);
  // Compare the MAC before looking at anything else it covers.
  if (!timingSafeEqual(expected, b.subarray(12, 12 + MAC_BYTES))) return { ok: false, reason: 'bad token proof (wrong job token, or another job or round)' };
  if (ws !== worldSize) return { ok: false, reason: `world size ${String(ws)} differs from ours (${String(worldSize)})` };
  if (rank >= worldSize) return { ok: false, reason: `rank ${String(rank)} out of range` };
  return { ok: true, rank };
}

export function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
