import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from './errors';

export interface AdminAuthOptions {
  token: string;
  realm?: string;
}

export const MIN_ADMIN_TOKEN_LENGTH = 24;

/** The Basic challenge that makes a browser ask for credentials; the rate limiter's 429 carries it too. */
export function authChallenge(realm = 'siprec-control'): Record<string, string> {
  if (!/^[\x20-\x7e]+$/.test(realm) || realm.includes('"') || realm.includes('\\')) {
    throw new Error('adminAuth realm must be printable ASCII without quotes or backslashes');
  }
  return { 'WWW-Authenticate': `Basic realm="${realm}", charset="UTF-8"` };
}

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The secret the client presented, or a reason it presented none we can read. */
function presentedSecret(header: string | undefined): { secret: string } | { problem: string } {
  if (header === undefined || header === '') return { problem: 'authentication required' };
  const m = /^([A-Za-z]+) +(\S.*)$/s.exec(header);
  if (!m) return { problem: 'malformed Authorization header' };
  const scheme = m[1]!.toLowerCase();
  const value = m[2]!.trim();
  if (scheme === 'bearer') return { secret: value };
  if (scheme === 'basic') {
    // Buffer.from() silently skips characters outside the alphabet; refuse them instead of guessing.
    if (value.length % 4 !== 0 || !BASE64.test(value)) return { problem: 'malformed Basic credentials' };
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { problem: 'malformed Basic credentials' };
    // Any user name is fine: browsers need one, the password is the token.
    return { secret: decoded.slice(colon + 1) };
  }
  return { problem: 'unsupported Authorization scheme: use Bearer or Basic' };
}

/**
 * Lets a request through only with `Authorization: Bearer <token>` or HTTP Basic whose password is
 * the token (any user). Both sides are hashed before `timingSafeEqual`, so neither the comparison
 * nor its length check leaks how much of the token a guess got right.
 */
export function adminAuth(options: AdminAuthOptions): RequestHandler {
  const { token, realm } = options;
  if (typeof token !== 'string' || token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new Error(`adminAuth needs a token of at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  }
  const challenge = authChallenge(realm);
  const matches = tokenMatcher(token);

  return function requireAdmin(req, _res, next) {
    const presented = presentedSecret(req.get('authorization'));
    if ('problem' in presented) throw new HttpError(401, presented.problem, { headers: challenge });
    if (!matches(presented.secret)) throw new HttpError(401, 'invalid credentials', { headers: challenge });
    next();
  };
}

function tokenMatcher(token: string): (secret: string) => boolean {
  const expected = sha256(token);
  return (secret) => timingSafeEqual(sha256(secret), expected);
}

/** True when the Authorization header carries the token; for the rate limiter, which must not count operators. */
export function carriesAdminToken(token: string): (authorization: string | undefined) => boolean {
  const matches = tokenMatcher(token);
  return (authorization) => {
    const presented = presentedSecret(authorization);
    return 'secret' in presented && matches(presented.secret);
  };
}
