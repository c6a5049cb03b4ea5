import { STATUS_PATH, type SignedCallback } from './callback-load';
import { TEST_PUBLIC_BASE_URL } from './env';
import { buildVoiceForm, sign } from './twilio-requests';

/**
 * Requests timed one by one while the database is faulty. Each waits at most GIVE_UP_MS, well past
 * every deadline of the issue, so that a request held too long shows as a number, not as a hang.
 */
const GIVE_UP_MS = 15_000;

export interface Probe {
  what: 'voice' | 'callback' | 'readyz' | 'healthz';
  /** 0 when no answer came at all (connection failed, or GIVE_UP_MS passed). */
  status: number;
  ms: number;
  retryAfter: string | null;
  body: string;
  key?: string;
}

async function timed(what: Probe['what'], url: string, init: RequestInit = {}, key?: string): Promise<Probe> {
  const started = performance.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(GIVE_UP_MS) });
    const body = await res.text();
    return { what, status: res.status, ms: Math.round(performance.now() - started), retryAfter: res.headers.get('retry-after'), body, key };
  } catch (err) {
    return { what, status: 0, ms: Math.round(performance.now() - started), retryAfter: null, body: (err as Error).message, key };
  }
}

/** A signed voice webhook for a new call. */
export function voiceProbe(base: string): Promise<Probe> {
  const form = buildVoiceForm();
  return timed('voice', `${base}/twilio/voice`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(`${TEST_PUBLIC_BASE_URL}/twilio/voice`, form) },
    body: new URLSearchParams(form),
  });
}

export function callbackProbe(base: string, cb: SignedCallback): Promise<Probe> {
  return timed(
    'callback',
    base + STATUS_PATH,
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': cb.signature }, body: cb.body },
    cb.key,
  );
}

export const readyzProbe = (base: string) => timed('readyz', `${base}/readyz`);
export const healthzProbe = (base: string) => timed('healthz', `${base}/healthz`);

/** Everything at once, as traffic arrives: more callbacks than the pool has connections. */
export async function faultWave(base: string, callbacks: readonly SignedCallback[], voices: number): Promise<Probe[]> {
  return Promise.all([
    ...Array.from({ length: voices }, () => voiceProbe(base)),
    ...callbacks.map((cb) => callbackProbe(base, cb)),
    readyzProbe(base),
    healthzProbe(base),
  ]);
}

/** The probes that broke a promise of the issue for a database that is down or hung, each described. */
export function brokenPromises(probes: readonly Probe[]): string[] {
  const broken: string[] = [];
  for (const p of probes) {
    const said = `${p.what}${p.key ? ` ${p.key}` : ''}: ${p.status} in ${p.ms} ms`;
    if (p.what === 'voice' && !(p.status === 200 && p.body.includes('<Siprec') && p.ms <= 2_000)) broken.push(`${said} (TwiML with <Siprec> within 2 s)`);
    if (p.what === 'callback' && !(p.status === 503 && /^\d+$/.test(p.retryAfter ?? '') && p.ms <= 5_000)) broken.push(`${said}, Retry-After ${p.retryAfter} (503 with Retry-After within 5 s)`);
    if (p.what === 'readyz' && !(p.status === 503 && p.ms <= 5_000)) broken.push(`${said} (503 within 5 s)`);
    if (p.what === 'healthz' && p.status !== 200) broken.push(`${said} (the process is alive: 200)`);
  }
  return broken;
}

export function slowest(probes: readonly Probe[], what: Probe['what']): number {
  return Math.max(0, ...probes.filter((p) => p.what === what).map((p) => p.ms));
}
