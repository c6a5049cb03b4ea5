import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Logger } from 'pino';
import { HttpError } from './errors';

export interface AuthRateLimitOptions {
  /** Requests carrying valid credentials are never counted nor refused. */
  isAuthorized: (req: Request) => boolean;
  /** The auth challenge (WWW-Authenticate), sent with each 429 too. */
  challenge: Record<string, string>;
  /** Where the limiter's own warnings go, as JSON lines like every other log line. */
  logger: Logger;
  /** Failed requests an address may make per window before it is refused. */
  maxFailures?: number;
  windowMs?: number;
}

/** No Authorization header at all: a browser's first request, before it has asked for credentials. */
const carriesNoCredentials = (req: Request) => !req.get('authorization');

/**
 * Slows token guessing: an address that presents wrong credentials `maxFailures` times within the
 * window gets 429 for the rest of it. The address is `req.ip`, so Express's `trust proxy`
 * (TRUST_PROXY) decides whether X-Forwarded-For names the client.
 *
 * Two kinds of request are skipped before counting, never counted and never refused:
 * - the right token (not counted on arrival and refunded later, which let a page's burst of parallel
 *   requests trip the limit), so an operator is never locked out by a guesser sharing the address;
 * - no credentials at all, which is how every browser visit starts: it gets the 401 challenge and
 *   only then asks its user. Counting those let ten ordinary visits lock an office out.
 * The 429 still carries the challenge, so a browser that later retries knows how to sign in.
 */
export function authRateLimit({ isAuthorized, challenge, logger, maxFailures = 10, windowMs = 60_000 }: AuthRateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs,
    limit: maxFailures,
    skip: (req) => carriesNoCredentials(req) || isAuthorized(req),
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Its checks print multi-line stacks through console.error by default, which breaks JSON-lines
    // logging; pino takes the same (error, message) arguments. X-Forwarded-For from a client while no
    // proxy is trusted is an attacker's header, not a misconfiguration worth a warning per process.
    logger: logger.child({ component: 'auth-rate-limit' }),
    validate: { xForwardedForHeader: false, forwardedHeader: false },
    handler: (_req, _res, next, options) => {
      next(
        new HttpError(429, 'too many failed attempts from this address; try again later', {
          headers: { ...challenge, 'Retry-After': String(Math.ceil(options.windowMs / 1000)) },
        }),
      );
    },
  });
}
