/**
 * Plays Twilio's side of a call against a siprec-control instance: builds the forms Twilio posts,
 * signs them with the twilio package's own signing against PUBLIC_BASE_URL + path (what Twilio signs),
 * and sends them to wherever the instance really listens. Shared by `simulate` and `npm run demo`.
 */
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import type { TwimlSiprec } from './twiml-inspect';

export interface SimOptions {
  /** Where requests go: a local listener, or the public URL through the proxy. No trailing slash. */
  url: string;
  /** What Twilio signs against: the instance's PUBLIC_BASE_URL. No trailing slash. */
  publicBaseUrl: string;
  accountSid: string;
  authToken: string;
  adminToken?: string;
  timeoutMs?: number;
}

export interface Reply {
  status: number;
  contentType: string;
  text: string;
  location: string | null;
}

/** Nothing usable came back: refused, reset, timed out, or a name that does not resolve. */
export class NoReplyError extends Error {
  constructor(
    readonly url: string,
    readonly code: string,
    options: { cause?: unknown } = {},
  ) {
    super(`no answer from ${url} (${code})`, options);
    this.name = 'NoReplyError';
  }
}

const hex32 = () => randomBytes(16).toString('hex');
export const newCallSid = () => `CA${hex32()}`;
export const newSiprecSid = () => `SR${hex32()}`;

// Twilio writes dates in RFC 2822 with a numeric zone.
export const twilioTimestamp = (at: Date = new Date()) => at.toUTCString().replace('GMT', '+0000');

export interface CallParty {
  accountSid: string;
  callSid: string;
  to: string;
  from: string;
  callerName?: string;
}

/** The voice webhook of an inbound call, with the fields Twilio sends. */
export function voiceForm(call: CallParty): Record<string, string> {
  return {
    AccountSid: call.accountSid,
    ApiVersion: '2010-04-01',
    CallSid: call.callSid,
    CallStatus: 'ringing',
    Called: call.to,
    Caller: call.from,
    Direction: 'inbound',
    From: call.from,
    To: call.to,
    ...(call.callerName ? { CallerName: call.callerName } : {}),
  };
}

export type SiprecEvent = 'siprec-started' | 'siprec-stopped' | 'siprec-error';

/** A SIPREC status callback: the standard call parameters plus the Siprec* ones. */
export function statusCallbackForm(
  call: CallParty,
  session: { name: string; siprecSid: string },
  event: SiprecEvent,
  extra: { at?: Date; errorCode?: string; error?: string } = {},
): Record<string, string> {
  return {
    AccountSid: call.accountSid,
    ApiVersion: '2010-04-01',
    CallSid: call.callSid,
    CallStatus: 'in-progress',
    Direction: 'inbound',
    From: call.from,
    To: call.to,
    SiprecSid: session.siprecSid,
    SiprecName: session.name,
    SiprecEvent: event,
    Timestamp: twilioTimestamp(extra.at),
    ...(extra.error !== undefined ? { SiprecError: extra.error } : {}),
    ...(extra.errorCode !== undefined ? { SiprecErrorCode: extra.errorCode } : {}),
  };
}

export interface TwilioSim {
  readonly options: SimOptions;
  /** POSTs the voice webhook to /twilio/voice. */
  voice(form: Record<string, string>): Promise<Reply>;
  /** Sends a status callback where the TwiML's statusCallback points, with its method. */
  statusCallback(siprec: TwimlSiprec, form: Record<string, string>): Promise<Reply>;
  /** Calls the operator API with the admin token as a Bearer token. */
  api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply>;
}

/** A `<Siprec>` whose statusCallback this simulator cannot map onto --url. */
export class CallbackUrlError extends Error {
  override name = 'CallbackUrlError';
}

export function createTwilioSim(options: SimOptions): TwilioSim {
  const url = options.url.replace(/\/+$/, '');
  const publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;

  const send = async (target: string, init: RequestInit): Promise<Reply> => {
    try {
      // Twilio signs the URL it was given and does not re-sign after a redirect: report one, never follow it.
      const res = await fetch(target, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text(), location: res.headers.get('location') };
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const code = (err as Error).name === 'TimeoutError' ? `no reply within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new NoReplyError(target, code, { cause: err });
    }
  };

  /** Twilio signs the full URL it calls (a fragment is never sent, so never signed) plus, for POST, the form. */
  const signed = (pathAndQuery: string, form: Record<string, string>, method: 'GET' | 'POST') =>
    send(`${url}${pathAndQuery}`, {
      method,
      headers: {
        'X-Twilio-Signature': twilio.getExpectedTwilioSignature(options.authToken, `${publicBaseUrl}${pathAndQuery}`, method === 'POST' ? form : {}),
        'User-Agent': 'TwilioProxy/1.1 (siprec-control simulator)',
        ...(method === 'POST' ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(method === 'POST' ? { body: new URLSearchParams(form).toString() } : {}),
    });

  return {
    options: { ...options, url, publicBaseUrl },
    voice: (form) => signed('/twilio/voice', form, 'POST'),
    statusCallback(siprec, form) {
      const callback = (siprec.statusCallback ?? '').replace(/#.*$/, '');
      if (!callback.startsWith(`${publicBaseUrl}/`)) {
        throw new CallbackUrlError(
          siprec.statusCallback
            ? `statusCallback ${callback} is not under PUBLIC_BASE_URL ${publicBaseUrl}: the instance's PUBLIC_BASE_URL differs from this one`
            : `<Siprec name="${siprec.name}"> has no statusCallback`,
        );
      }
      const path = callback.slice(publicBaseUrl.length);
      if (siprec.statusCallbackMethod === 'POST') return signed(path, form, 'POST');
      return signed(`${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams(form).toString()}`, {}, 'GET');
    },
    api: (method, path, body) =>
      send(`${url}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${options.adminToken ?? ''}`,
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
  };
}

/** The short form of a reply for a progress line: status and, for an error, what the body said. */
export function describeReply(reply: Reply): string {
  const isJson = reply.contentType.includes('json');
  let said = '';
  if (isJson) {
    try {
      const body = JSON.parse(reply.text) as { error?: unknown };
      if (typeof body.error === 'string') said = body.error;
    } catch {
      said = '(malformed JSON)';
    }
  } else if (reply.status >= 300 && reply.location) said = `Location: ${reply.location}`;
  return said ? `${reply.status} (${said})` : String(reply.status);
}
