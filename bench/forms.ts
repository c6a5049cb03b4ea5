import type autocannon from 'autocannon';
import { TEST_ACCOUNT_SID, TEST_ADMIN_TOKEN, TEST_PUBLIC_BASE_URL } from '../test/helpers/env';
import { buildStatusCallback, buildVoiceForm, newCallSid, sign } from '../test/helpers/twilio-requests';

/**
 * What the load generator sends: realistic Twilio forms (about 15 fields), signed exactly as Twilio
 * signs them (PUBLIC_BASE_URL + the path the server receives), so siprec-control runs its full
 * pipeline. Building and signing happen on the client, before autocannon starts the request's clock.
 */

export const VOICE_PATH = '/twilio/voice';
export const STATUS_PATH = '/twilio/siprec-status';

/** The standard request parameters Twilio adds to every status callback, besides the SIPREC ones. */
function standardCallParams(callSid: string): Record<string, string> {
  return {
    AccountSid: TEST_ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    CallSid: callSid,
    CallStatus: 'in-progress',
    Called: '+15550001111',
    Caller: '+14155550100',
    Direction: 'inbound',
    From: '+14155550100',
    FromCountry: 'US',
    To: '+15550001111',
    ToCountry: 'US',
  };
}

/** A SIPREC status callback with a fresh CallSid and SiprecSid: 15 fields. */
export function statusForm(overrides: Record<string, string> = {}): Record<string, string> {
  const callSid = overrides.CallSid ?? newCallSid();
  return buildStatusCallback({ ...standardCallParams(callSid), SiprecName: 'gridspace', SiprecEvent: 'siprec-started', ...overrides });
}

type Req = autocannon.Request;

/** A POST of `form` to `path`, signed. */
export function signedPost(path: string, form: Record<string, string>): Req {
  return {
    method: 'POST',
    path,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': sign(TEST_PUBLIC_BASE_URL + path, form),
    },
    body: new URLSearchParams(form).toString(),
  };
}

/** A request template whose form is rebuilt and re-signed for every request (a new call each time). */
export function freshEachTime(path: string, build: () => Record<string, string>): Req {
  return {
    ...signedPost(path, build()),
    setupRequest: (req) => {
      const next = signedPost(path, build());
      return { ...req, headers: next.headers, body: next.body };
    },
  };
}

/** A caller of its own for each call, as in real traffic (a route's {From} then renders new TwiML). */
const newCaller = () => `+1415${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

/** (1) The voice webhook of a new inbound call (to the two-connector route), from a new caller. */
export const voiceRequests = (): Req[] =>
  [freshEachTime(VOICE_PATH, () => {
    const caller = newCaller();
    return buildVoiceForm({ From: caller, Caller: caller });
  })];

/** (2) Status callbacks, each for a new SiprecSid: every one is a durable insert. */
export const statusRequests = (): Req[] => [freshEachTime(STATUS_PATH, () => statusForm())];

/** (3) The same signed callback over and over: every one after the first is a duplicate. */
export function duplicateRequests(form: Record<string, string>): Req[] {
  return [signedPost(STATUS_PATH, form)];
}

/** A voice call followed by its status callback, for the sustained (leak) run. */
export const mixedRequests = (): Req[] => [...voiceRequests(), ...statusRequests()];

const ADMIN_HEADERS = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** (4) An operator API GET; `pickPath` runs per request (e.g. a random call of the seeded ledger). */
export function adminGet(pickPath: () => string): Req[] {
  return [
    {
      method: 'GET',
      path: pickPath(),
      headers: ADMIN_HEADERS,
      setupRequest: (req) => ({ ...req, path: pickPath() }),
    },
  ];
}

export const ADMIN_AUTHORIZATION = ADMIN_HEADERS.authorization;
