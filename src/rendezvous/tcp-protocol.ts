/**
 * Messages of the TCP store protocol (each one frame, see framing.ts).
 * The client's first frame is `{t: 'auth', token}`; the server answers `{t: 'auth', ok}` and, on a
 * wrong token, closes. Then requests carry an id so several can be in flight on one connection.
 */
export const PROTOCOL_VERSION = 1;

export interface AuthRequest {
  t: 'auth';
  token: string;
  v: number;
}

export interface AuthReply {
  t: 'auth';
  ok: boolean;
  message?: string;
}

export type StoreRequest =
  | { id: number; op: 'get'; key: string }
  | { id: number; op: 'set'; key: string; value: string; ttlMs?: number }
  | { id: number; op: 'cas'; key: string; expected: string | null; desired: string; ttlMs?: number }
  | { id: number; op: 'add'; key: string; delta: number }
  | { id: number; op: 'wait'; keys: string[]; timeoutMs: number | null }
  | { id: number; op: 'delete'; key: string }
  | { id: number; op: 'keys'; prefix: string }
  | { id: number; op: 'ping' };

export type ErrorCode = 'timeout' | 'invalid' | 'error';

export type StoreReply =
  | { id: number; ok: true; value?: unknown }
  | { id: number; ok: false; code: ErrorCode; message: string; missing?: string[] };

/** Largest frame before authentication: an auth message is tiny; strangers must not make us buffer. */
export const MAX_AUTH_FRAME_BYTES = 16 * 1024;
/** Largest frame after authentication. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
