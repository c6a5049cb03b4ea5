import { STATUS_PATH, type SignedCallback } from './callback-load';
import { TEST_ADMIN_TOKEN, TEST_PUBLIC_BASE_URL } from './env';
import { buildVoiceForm, sign } from './twilio-requests';

/** Twilio's side of a running server: signed webhooks over real HTTP, each answer timed. */

export interface TimedAnswer {
  status: number;
  text: string;
  retryAfter: string | null;
  /** From sending the request to the end of the answer's body. */
  ms: number;
}

async function timed(url: string, init: RequestInit): Promise<TimedAnswer> {
  const started = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, text, retryAfter: res.headers.get('retry-after'), ms: performance.now() - started };
}

/** A signed voice webhook for `form` (a new call by default). */
export function postVoice(base: string, form: Record<string, string> = buildVoiceForm(), publicBaseUrl = TEST_PUBLIC_BASE_URL): Promise<TimedAnswer> {
  const path = '/twilio/voice';
  return timed(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(publicBaseUrl + path, form) },
    body: new URLSearchParams(form),
  });
}

/** One signed status callback, sent as Twilio would (and would send again, unchanged). */
export function postCallback(base: string, cb: SignedCallback): Promise<TimedAnswer> {
  return timed(base + STATUS_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': cb.signature },
    body: cb.body,
  });
}

export const readyz = async (base: string): Promise<number> => (await fetch(`${base}/readyz`)).status;

/** The value of one counter without labels from /metrics, as Prometheus would scrape it. */
export async function counterValue(base: string, name: string, token = TEST_ADMIN_TOKEN): Promise<number> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (res.status !== 200 || !line) throw new Error(`/metrics answered ${res.status} without ${name}`);
  return Number(line.slice(name.length + 1));
}

/** Waits until `check` holds (polled every 50 ms), for at most `withinMs`; fails naming `what`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, withinMs = 15_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How many log lines of `output` carry `message`. */
export const linesWith = (output: string, message: string): number => output.split('\n').filter((l) => l.includes(message)).length;
