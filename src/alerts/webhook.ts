import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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

/** Most of a reply body read, only to quote it in lastError: the status line alone decides. */
export const MAX_REPLY_BYTES = 4 * 1024;

const printable = (text: string) => text.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 200);

function unreachable(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return `could not reach the receiver${typeof code === 'string' ? ` (${code})` : ''}`;
}

/**
 * POSTs one alert; any 2xx status is delivered. Never throws: a failure is a result to retry on.
 *
 * node:http rather than fetch: fetch refuses ports such as 5060, 6000 and 10080 ("bad port") that a
 * webhook may listen on, and reads whole bodies. Here the outcome is the status line, which must come
 * within `timeoutMs`; of the body at most MAX_REPLY_BYTES are read (for a non-2xx answer, to quote
 * it), then the connection is dropped, so neither a flood nor a trickle of reply costs memory or time.
 * Redirects are not followed (node:http never does): a 3xx is a failure, since following one would
 * carry the signed alert elsewhere. https verifies the certificate, as Node does by default.
 */
export function postAlert(target: WebhookTarget, alert: Alert, options: { timeoutMs: number; nowMs: number }): Promise<SendResult> {
  const body = JSON.stringify(alertPayload(alert));
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    'User-Agent': 'siprec-control',
    [ALERT_ID_HEADER]: alertDeliveryId(alert),
    ...(target.secret ? signatureHeaders(target.secret, body, options.nowMs) : {}),
  };
  return new Promise<SendResult>((resolve) => {
    let status: number | undefined;
    const reply: Buffer[] = [];
    let replyBytes = 0;
    const answered = (): SendResult => {
      const answer = printable(Buffer.concat(reply).toString('utf8'));
      return status! >= 200 && status! < 300 ? { ok: true } : { ok: false, error: `receiver answered ${status}${answer ? `: ${answer}` : ''}` };
    };
    let settled = false;
    const settle = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // No keep-alive (agent: false): this closes the connection, and the receiver stops sending.
      req.destroy();
      resolve(result);
    };
    // Past the status line, the outcome is known: running out of time only ends the quote of the body.
    const timer = setTimeout(() => settle(status === undefined ? { ok: false, error: `no answer within ${options.timeoutMs} ms` } : answered()), options.timeoutMs);
    let req: ClientRequest;
    try {
      req = (new URL(target.url).protocol === 'https:' ? httpsRequest : httpRequest)(target.url, { method: 'POST', headers, agent: false }, (res) => {
        status = res.statusCode ?? 0;
        res.on('error', () => settle(answered()));
        if (status >= 200 && status < 300) return settle({ ok: true });
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = MAX_REPLY_BYTES - replyBytes;
          reply.push(chunk.subarray(0, room));
          replyBytes += Math.min(chunk.length, room);
          if (replyBytes >= MAX_REPLY_BYTES) settle(answered());
        });
        res.on('end', () => settle(answered()));
        res.on('close', () => settle(answered()));
      });
    } catch (err) {
      // A URL node:http cannot send to; config allows only absolute http(s) URLs, so this is a guard.
      clearTimeout(timer);
      settled = true;
      return resolve({ ok: false, error: unreachable(err) });
    }
    req.on('error', (err) => settle(status === undefined ? { ok: false, error: unreachable(err) } : answered()));
    // A 101 is no answer to a POST: without this listener node:http would leave the attempt to the timeout.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      status = res.statusCode ?? 0;
      settle(answered());
    });
    req.end(body);
  });
}
