import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { HttpError } from './errors';

export interface AuthRateLimitOptions {
  /** Failed requests an address may make per window before it is refused. */
  maxFailures?: number;
  windowMs?: number;
}

/**
 * Slows token guessing: an address that fails authentication `maxFailures` times within the window
 * gets 429 until the window passes. Only failures count (successful requests are not), and the count
 * is per address, so an operator elsewhere with the right token is never locked out.
 */
export function authRateLimit({ maxFailures = 10, windowMs = 60_000 }: AuthRateLimitOptions = {}): RequestHandler {
  return rateLimit({
    windowMs,
    limit: maxFailures,
    // Only refused credentials count: an operator's 404s and 409s are not guesses.
    requestWasSuccessful: (_req, res) => res.statusCode !== 401,
    skipSuccessfulRequests: true,
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
