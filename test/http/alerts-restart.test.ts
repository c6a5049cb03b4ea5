import pino from 'pino';
import { loadConfig, type Config } from '../../src/config';
import { startServer, type RunningServer } from '../../src/server';
import { openStore } from '../../src/store';
import { startAlertReceiver, type AlertReceiver } from '../helpers/alert-receiver';
import { ALERT_SECRET } from '../helpers/alert-harness';
import { describeEachBackend, testStorage, type TestStorage } from '../helpers/backends';
import { tempDir, testEnv, TEST_PUBLIC_BASE_URL, type TempDir } from '../helpers/env';
import { UNREACHABLE_TWILIO } from '../helpers/test-app';
import { buildStatusCallback, newCallSid, sign } from '../helpers/twilio-requests';

const PATH = '/twilio/siprec-status';

/** Waits for `check` to hold, polling: the server's own timers drive delivery here. */
async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describeEachBackend('an alert pending when the server stops', (backend) => {
  let dir: TempDir;
  let storage: TestStorage;
  let receiver: AlertReceiver;
  let config: Config;
  let server: RunningServer | undefined;
  beforeEach(async () => {
    dir = tempDir();
    storage = await testStorage(backend, dir);
    receiver = await startAlertReceiver();
    const env = testEnv(dir, undefined, {
      PORT: '0',
      HOST: '127.0.0.1',
      TWILIO_API_BASE_URL: UNREACHABLE_TWILIO,
      ALERT_WEBHOOK_URL: receiver.url,
      ALERT_WEBHOOK_SECRET: ALERT_SECRET,
      ...storage.env,
    });
    if (backend === 'postgres') delete env.DATABASE_PATH; // DATABASE_URL selects it; both set is a config error
    config = loadConfig(env);
  });
  afterEach(async () => {
    await server?.close();
    await receiver.close();
    await storage.remove();
    dir.remove();
  });

  /** The outbox as a store of its own reads it, between servers or after the last one. */
  const outboxRow = async () => {
    const store = await openStore(config.storage, { log: pino({ level: 'silent' }), mode: 'cli' });
    try {
      return (await store.alerts.list(100)).map(({ kind, state, attempts, callSid, held }) => ({ kind, state, attempts, callSid, held }));
    } finally {
      await store.close();
    }
  };

  it('is delivered by the next server on the same database, exactly once', async () => {
    receiver.answerAlways(500);
    server = await startServer(config, pino({ level: 'silent' }));
    const callSid = newCallSid();
    const form = buildStatusCallback({ CallSid: callSid, SiprecName: 'gridspace', SiprecEvent: 'siprec-error', SiprecErrorCode: '64101' });
    const res = await fetch(`${server.url}${PATH}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': sign(TEST_PUBLIC_BASE_URL + PATH, form) },
      body: new URLSearchParams(form),
    });
    expect(res.status).toBe(204);
    await eventually(() => receiver.requests.length >= 1, 'a first, failed attempt');
    await server.close();
    server = undefined;
    const attemptsBefore = receiver.requests.length;
    expect(await outboxRow()).toEqual([{ kind: 'siprec-error', state: 'retrying', attempts: attemptsBefore, callSid, held: false }]);

    receiver.answerAlways(200);
    server = await startServer(config, pino({ level: 'silent' }));
    await receiver.waitForAccepted(1);
    await server.close();
    server = undefined;

    expect(receiver.accepted().map((r) => r.json)).toEqual([expect.objectContaining({ kind: 'siprec-error', callSid, errorCode: '64101' })]);
    expect(receiver.requests).toHaveLength(attemptsBefore + 1);
    expect(await outboxRow()).toEqual([{ kind: 'siprec-error', state: 'delivered', attempts: attemptsBefore + 1, callSid, held: false }]);
  });
});
