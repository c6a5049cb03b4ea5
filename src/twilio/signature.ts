import type { Request, RequestHandler } from 'express';
import twilio from 'twilio';
import { HttpError } from '../http/errors';

export interface TwilioSignatureOptions {
  /** Every token that may have signed the request: the primary, and during rotation the secondary. */
  authTokens: readonly string[];
  /** The URL prefix through which Twilio reaches us; never derived from Host or X-Forwarded-*. */
  publicBaseUrl: string;
  accountSid: string;
  onRejected?: (reason: 'missing' | 'mismatch' | 'account', req: Request) => void;
}

/** The parameters Twilio signed: the POST form, or none for GET (its query is part of the URL). */
export function signedParams(req: Request): Record<string, unknown> {
  return req.method === 'POST' && req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
}

/** Parameters of the request wherever Twilio put them: the form for POST, the query for GET. */
export function twilioParams(req: Request): Record<string, unknown> {
  return req.method === 'POST' ? signedParams(req) : (req.query as Record<string, unknown>);
}

export function isValidTwilioSignature(authTokens: readonly string[], signature: string, url: string, params: Record<string, unknown>): boolean {
  return authTokens.some((token) => {
    try {
      return twilio.validateRequest(token, signature, url, params);
    } catch {
      // A URL that `new URL()` rejects cannot be the one Twilio signed.
      return false;
    }
  });
}

/**
 * Lets a request through only when X-Twilio-Signature proves it came from Twilio for our account.
 * Missing header → 400, bad signature or another account → 403; the guarded handler never runs.
 */
export function twilioSignature(options: TwilioSignatureOptions): RequestHandler {
  const { authTokens, accountSid, onRejected } = options;
  if (authTokens.length === 0 || authTokens.some((t) => t.length === 0)) throw new Error('twilioSignature needs at least one auth token');
  if (!/^https?:\/\/[^/]+/.test(options.publicBaseUrl)) throw new Error('twilioSignature needs an absolute publicBaseUrl');
  const base = options.publicBaseUrl.replace(/\/+$/, '');

  return function verifyTwilioSignature(req, _res, next) {
    const signature = req.get('x-twilio-signature');
    if (!signature) {
      onRejected?.('missing', req);
      throw new HttpError(400, 'missing X-Twilio-Signature header');
    }
    // originalUrl is the path and query exactly as received, which is what Twilio signed.
    if (!isValidTwilioSignature(authTokens, signature, base + req.originalUrl, signedParams(req))) {
      onRejected?.('mismatch', req);
      throw new HttpError(403, 'X-Twilio-Signature does not match this request');
    }
    if (twilioParams(req).AccountSid !== accountSid) {
      onRejected?.('account', req);
      throw new HttpError(403, 'request is for another Twilio account');
    }
    next();
  };
}
