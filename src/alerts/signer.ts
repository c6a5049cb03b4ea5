import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'X-Siprec-Control-Timestamp';
export const SIGNATURE_HEADER = 'X-Siprec-Control-Signature';
/** How old a signed alert a receiver should still accept; older ones may be replays. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/**
 * Hex HMAC-SHA256 of `${timestamp}.${body}`. The timestamp is inside the MAC, so a receiver that
 * refuses old timestamps refuses replays: changing the timestamp breaks the signature.
 */
export function alertSignature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The headers that sign `body` at `nowMs`. */
export function signatureHeaders(secret: string, body: string, nowMs: number): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: alertSignature(secret, timestamp, body) };
}

/** For receivers written in Node: true when the signature matches and the timestamp is recent. */
export function verifyAlertSignature(options: {
  secret: string;
  body: string;
  timestamp: string | undefined;
  signature: string | undefined;
  nowMs?: number;
  toleranceSeconds?: number;
}): boolean {
  const { secret, body, timestamp, signature, nowMs = Date.now(), toleranceSeconds = DEFAULT_TOLERANCE_SECONDS } = options;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || !signature || !/^[0-9a-f]{64}$/.test(signature)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(alertSignature(secret, Number(timestamp), body), 'hex');
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}
