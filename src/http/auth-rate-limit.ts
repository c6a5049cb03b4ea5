import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { HttpError } from './errors';

export interface AuthRateLimitOptions {
  /** Requests carrying valid credentials are never counted nor refused. */
  isAuthorized: (req: Request) => boolean;
  /** Failed requests an address may make per window before it is refused. */
  maxFailures?: number;
  windowMs?: number;
}

/**
 * Slows token guessing: an address that presents wrong credentials `maxFailures` times within the
 * window gets 429 for the rest of it. Requests with the right token are skipped before counting (not
 * counted on arrival and refunded later, which let a page's burst of parallel requests trip the
 * limit), so an operator is never locked out, whatever address they share with a guesser.
 */
export function authRateLimit({ isAuthorized, maxFailures = 10, windowMs = 60_000 }: AuthRateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs,
    limit: maxFailures,
    skip: isAuthorized,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (_req, _res, next, options) => {
      next(
        new HttpError(429, 'too many failed attempts from this address; try again later', {
          headers: { 'Retry-After': String(Math.ceil(options.windowMs / 1000)) },
        }),
      );
    },
  });
}
