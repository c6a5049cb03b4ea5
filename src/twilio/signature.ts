// The module itself, not the package's index: that would load the whole REST client too.
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import type { Logger } from 'pino';
import { HttpError } from '../http/errors';

export type SignatureRefusal = 'missing' | 'mismatch' | 'account';

export interface TwilioSignatureOptions {
  /** Every token that may have signed the request: the primary, and during rotation the secondary. */
  authTokens: readonly string[];
  /** The URL prefix through which Twilio reaches us; never derived from Host or X-Forwarded-*. */
  publicBaseUrl: string;
  accountSid: string;
  onRejected?: (reason: SignatureRefusal, req: SignedRequest) => void;
}

/** What the gate looks at: the header, the path and query as received, and the parameters. */
export interface SignedRequest {
  signature: string | undefined;
  /** Path and query exactly as received, which is what Twilio signed after PUBLIC_BASE_URL. */
  originalUrl: string;
  /** The POST form, or none for GET (its query is part of the signed URL). */
  signedParams: Record<string, unknown>;
  /** Where Twilio put the call's parameters: the form for POST, the query for GET. */
  params: Record<string, unknown>;
  /** The request's logger, for whoever reports a refusal. */
  log: () => Logger;
}

export function isValidTwilioSignature(authTokens: readonly string[], signature: string, url: string, params: Record<string, unknown>): boolean {
  return authTokens.some((token) => {
    try {
      return validateRequest(token, signature, url, params);
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
export function twilioSignatureGate(options: TwilioSignatureOptions): (req: SignedRequest) => void {
  const { authTokens, accountSid, onRejected } = options;
  if (authTokens.length === 0 || authTokens.some((t) => t.length === 0)) throw new Error('twilioSignatureGate needs at least one auth token');
  if (!/^https?:\/\/[^/]+/.test(options.publicBaseUrl)) throw new Error('twilioSignatureGate needs an absolute publicBaseUrl');
  const base = options.publicBaseUrl.replace(/\/+$/, '');

  return function verifyTwilioSignature(req) {
    if (!req.signature) {
      onRejected?.('missing', req);
      throw new HttpError(400, 'missing X-Twilio-Signature header');
    }
    if (!isValidTwilioSignature(authTokens, req.signature, base + req.originalUrl, req.signedParams)) {
      onRejected?.('mismatch', req);
      throw new HttpError(403, 'X-Twilio-Signature does not match this request');
    }
    if (req.params.AccountSid !== accountSid) {
      onRejected?.('account', req);
      throw new HttpError(403, 'request is for another Twilio account');
    }
  };
}
