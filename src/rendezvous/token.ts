import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigurationError } from '../errors/index.js';

/** A fresh job token: 32 random bytes, hex. */
export function generateToken(): string {
  return randomBytes(32).toString('hex');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Constant-time comparison. Both sides are hashed first so the lengths match (timingSafeEqual needs
 * that) and the comparison time does not reveal the token's length either.
 */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

export function checkToken(token: unknown, where: string): asserts token is string {
  if (typeof token !== 'string' || token.length === 0) {
    throw new ConfigurationError(`${where} needs the job's token (a non-empty string)`, {
      suggestions: ['Pass the same token to every agent: --rdzv-conf token=... or the EH_TOKEN environment variable; generateToken() makes one.'],
    });
  }
}
