import type { Request, RequestHandler } from 'express';
import typeIs from 'type-is';
import { HttpError } from './errors';

export interface SameOriginWritesOptions {
  /** PUBLIC_BASE_URL: its origin is the one the status page is served from. */
  publicBaseUrl: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Why a browser-made request did not come from our own pages, or undefined when it did (or no browser made it). */
function crossSiteReason(req: Request, ownOrigin: string): string | undefined {
  const origin = req.get('origin');
  const site = req.get('sec-fetch-site');
  if (origin === ownOrigin) return undefined;
  // The browser sets Sec-Fetch-Site itself (page script cannot): same-origin means a page served by
  // whatever address the operator opened us at, which need not be PUBLIC_BASE_URL (an internal name).
  if (site === 'same-origin' || site === 'none') return undefined;
  if (site !== undefined) return `Sec-Fetch-Site is ${site}`;
  if (origin !== undefined) return `Origin ${origin} is not ${ownOrigin}`;
  // Neither header: not a browser (curl, a script), or one too old to send them; the Basic rule below covers forms.
  return undefined;
}

/**
 * Refuses requests that change state when a browser says another site made them. A browser signed in
 * with Basic sends those credentials by itself to any request for our origin, so a page elsewhere
 * could otherwise auto-submit a form that stops a compliance recording.
 *
 * - POST/PUT/PATCH/DELETE whose Origin is not PUBLIC_BASE_URL's, or marked `Sec-Fetch-Site:
 *   cross-site`/`same-site` → 403, before authentication (so such a page cannot raise a password prompt
 *   either) and before any route asks Twilio.
 * - With Basic credentials (the ones a browser caches), the request must also say `Content-Type:
 *   application/json`, body or not: an HTML form cannot send that type, and a cross-site fetch that
 *   sets it needs a CORS preflight, which this service never grants. A Bearer token is never sent by a
 *   browser on its own, so a body-less POST with one stays valid (the README's curl examples).
 */
export function sameOriginWrites({ publicBaseUrl }: SameOriginWritesOptions): RequestHandler {
  const ownOrigin = new URL(publicBaseUrl).origin;
  if (ownOrigin === 'null') throw new Error('sameOriginWrites needs an http(s) publicBaseUrl');

  return function refuseCrossSiteWrites(req, _res, next) {
    if (SAFE_METHODS.has(req.method)) return next();
    const reason = crossSiteReason(req, ownOrigin);
    if (reason) throw new HttpError(403, `cross-site request refused: ${reason}; use the status page at ${ownOrigin} or a Bearer token`);
    const scheme = /^\s*(\S+)/.exec(req.get('authorization') ?? '')?.[1]?.toLowerCase();
    if (scheme === 'basic' && typeIs.is(req.get('content-type') ?? '', ['application/json']) === false) {
      throw new HttpError(415, 'with Basic credentials, a request that changes state must be sent with Content-Type: application/json (a body of {} will do), or use a Bearer token');
    }
    next();
  };
}
