import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { DEFAULT_TEST_ROUTES, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, tempDir, testEnv } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildStatusCallback, buildVoiceForm, newCallSid, newSiprecSid, sign } from '../helpers/twilio-requests';

// onerror would set this flag if the markup ever became an element (CSP would also report it).
export const XSS = '<img src=x onerror="window.__xss=1">';
const T0 = Date.now();
const ago = (seconds: number) => new Date(T0 - seconds * 1000).toISOString();

export const live = { callSid: newCallSid(), gridspace: newSiprecSid(), compliance: newSiprecSid() };
export const done = { callSid: newCallSid(), sid: newSiprecSid() };
export const hostile = { callSid: newCallSid(), sid: newSiprecSid() };
/** `callSid/name` of every seeded session, as the page lists them. */
export const NEWEST_FIRST = [
  `${hostile.callSid}/${XSS}`,
  `${hostile.callSid}/Gridspace_1`,
  `${live.callSid}/compliance`,
  `${live.callSid}/gridspace`,
  `${done.callSid}/Gridspace_1`,
];

export interface SeededServer {
  server: ServerProcess;
  fake: FakeTwilio;
  /** POSTs a status callback signed as Twilio would sign it. */
  callback(overrides: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real server (temp SQLite, fake Twilio REST API), seeded with three calls exactly as Twilio
 * would: signed webhooks. `extraEnv` adds or overrides configuration (STORE_CALLER_NUMBERS, say).
 */
export async function startSeededServer(extraEnv: Record<string, string> = {}): Promise<SeededServer> {
  const dir = tempDir();
  const fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const env = testEnv(dir, DEFAULT_TEST_ROUTES, { TWILIO_API_BASE_URL: fake.url, ...extraEnv });
  const server = await startServerProcess(env);

  async function twilio(route: string, form: Record<string, string>): Promise<void> {
    const res = await fetch(`${server.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(`${env.PUBLIC_BASE_URL}${route}`, form) },
      body: new URLSearchParams(form),
    });
    if (res.status !== 200 && res.status !== 204) throw new Error(`${route} answered ${res.status}: ${await res.text()}`);
  }
  const voice = (o: Record<string, string>) => twilio('/twilio/voice', buildVoiceForm(o));
  const callback = (o: Record<string, string>) => twilio('/twilio/siprec-status', buildStatusCallback(o));

  await voice({ CallSid: done.callSid, To: '+15559990000', From: '+442071838750' });
  // Out of order on purpose: the timeline must follow Twilio's timestamps, not arrival.
  await callback({ CallSid: done.callSid, SiprecSid: done.sid, SiprecName: 'Gridspace_1', SiprecEvent: 'siprec-stopped', Timestamp: ago(60) });
  await callback({ CallSid: done.callSid, SiprecSid: done.sid, SiprecName: 'Gridspace_1', SiprecEvent: 'siprec-started', Timestamp: ago(300) });

  await voice({ CallSid: live.callSid });
  await callback({ CallSid: live.callSid, SiprecSid: live.gridspace, SiprecName: 'gridspace', Timestamp: ago(120) });
  await callback({ CallSid: live.callSid, SiprecSid: live.compliance, SiprecName: 'compliance', Timestamp: ago(110) });
  await callback({
    CallSid: live.callSid,
    SiprecSid: live.compliance,
    SiprecName: 'compliance',
    SiprecEvent: 'siprec-error',
    Timestamp: ago(100),
    SiprecErrorCode: '64101',
    SiprecError: 'SIP connection to the recording server failed',
  });
  // Twilio knows the live call and the session its TwiML started; the other calls have ended.
  fake.calls.add(live.callSid);
  fake.siprecs.set(live.gridspace, { sid: live.gridspace, callSid: live.callSid, name: 'gridspace', status: 'in-progress', form: {} });

  await voice({ CallSid: hostile.callSid, To: '+15559990000', From: XSS });
  await callback({ CallSid: hostile.callSid, SiprecSid: hostile.sid, SiprecName: XSS, Timestamp: ago(30), Comment: XSS });

  return {
    server,
    fake,
    callback,
    close: async () => {
      server.child.kill('SIGTERM');
      await server.exited;
      await fake.close();
      dir.remove();
    },
  };
}
