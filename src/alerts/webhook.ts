import { createHash } from 'node:crypto';
import { alertPayload } from './messages';
import { signatureHeaders } from './signer';
import type { Alert } from './types';

export interface WebhookTarget {
  /** Treated as a secret (a Slack webhook URL is one): never logged nor stored with an error. */
  url: string;
  secret?: string;
}

export type SendResult = { ok: true } | { ok: false; error: string };

export const ALERT_ID_HEADER = 'X-Siprec-Control-Alert-Id';
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;

/** Stable across retries and restarts, so a receiver can drop a repeat: delivery is at least once. */
export const alertDeliveryId = (a: Alert) => createHash('sha256').update(a.dedupeKey).digest('hex').slice(0, 32);

const printable = (text: string) => text.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 200);

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: unknown } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  return `could not reach the receiver${code ? ` (${code})` : ''}`;
}

/** POSTs one alert; any 2xx is delivered. Never throws: a failure is a result to retry on. */
export async function postAlert(target: WebhookTarget, alert: Alert, options: { timeoutMs: number; nowMs: number }): Promise<SendResult> {
  const body = JSON.stringify(alertPayload(alert));
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'siprec-control',
    [ALERT_ID_HEADER]: alertDeliveryId(alert),
    ...(target.secret ? signatureHeaders(target.secret, body, options.nowMs) : {}),
  };
  try {
    // A redirect would turn the POST into a GET elsewhere (and carry the signature there): refuse it.
    const res = await fetch(target.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
    const answer = printable(await res.text());
    if (res.status >= 200 && res.status < 300) return { ok: true };
    return { ok: false, error: `receiver answered ${res.status}${answer ? `: ${answer}` : ''}` };
  } catch (err) {
    return { ok: false, error: describeFailure(err, options.timeoutMs) };
  }
}
