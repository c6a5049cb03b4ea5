import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { ledgerSnapshot, operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildVoiceForm, hex32 } from '../helpers/twilio-requests';

const CHECK_CREDENTIALS =
  'Twilio refused our credentials: check TWILIO_ACCOUNT_SID, and TWILIO_AUTH_TOKEN or the API key (TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET); nothing was recorded';

/**
 * Twilio's 401 and 403 say our own configuration is wrong, not the operator's request: they are a
 * failed upstream (502) that names what to check, never a 409 that reads as a conflict on the call.
 */
describe('operator API when Twilio refuses our credentials', () => {
  const key = { sid: `SK${hex32()}`, secret: 'api-key-secret-for-tests-0123' };
  const restricted = { sid: `SK${hex32()}`, secret: 'restricted-key-secret-0123', restricted: true };
  let fake: FakeTwilio;
  let limited: FakeTwilio;
  let t: TestApp | undefined;

  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, apiKey: key });
    limited = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, apiKey: restricted });
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await fake.close();
    await limited.close();
  });

  async function liveCall(app: TestApp, on: FakeTwilio): Promise<string> {
    const form = buildVoiceForm({ To: '+15559990000' });
    // Signed with the configured token, whatever Twilio's REST API thinks of it.
    await app.postTwilio('/twilio/voice', form, app.config.twilio.authTokens[0]).expect(200);
    on.calls.add(form.CallSid!);
    return form.CallSid!;
  }

  const cases: Array<[string, () => { env: Record<string, string>; twilio: FakeTwilio }, number]> = [
    ['a wrong TWILIO_AUTH_TOKEN (401)', () => ({ env: { TWILIO_AUTH_TOKEN: 'a-token-twilio-does-not-know' }, twilio: fake }), 401],
    ['a wrong API key secret (401)', () => ({ env: { TWILIO_API_KEY_SID: key.sid, TWILIO_API_KEY_SECRET: 'not-the-secret' }, twilio: fake }), 401],
    ['an API key without access to the endpoint (403)', () => ({ env: { TWILIO_API_KEY_SID: restricted.sid, TWILIO_API_KEY_SECRET: restricted.secret }, twilio: limited }), 403],
  ];

  it.each(cases)('answers a start with 502 naming what to check, for %s, and records nothing', async (_what, setup, twilioStatus) => {
    const { env, twilio } = setup();
    t = await createTestApp({ env, twilio });
    const callSid = await liveCall(t, twilio);
    const before = await ledgerSnapshot(t, [callSid]);
    const res = await operatorApi(t).post(`/api/calls/${callSid}/siprec`, { connectorName: 'Compliance_SRS', name: 'extra' }).expect(502);
    expect(res.body).toEqual({ error: CHECK_CREDENTIALS, details: [{ twilioStatus, twilioCode: 20003, twilioMessage: expect.any(String) }] });
    expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
    expect(twilio.siprecs.size).toBe(0);
  });

  it.each(cases)('answers a stop with 502 naming what to check, for %s, and records nothing', async (_what, setup, twilioStatus) => {
    const { env, twilio } = setup();
    t = await createTestApp({ env, twilio });
    const callSid = await liveCall(t, twilio);
    const before = await ledgerSnapshot(t, [callSid]);
    const res = await operatorApi(t).post(`/api/calls/${callSid}/siprec/gridspace/stop`).expect(502);
    expect(res.body).toEqual({ error: CHECK_CREDENTIALS, details: [{ twilioStatus, twilioCode: 20003, twilioMessage: expect.any(String) }] });
    expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
  });

  it('counts the refusal as outcome "unauthorized" in siprec_twilio_rest_calls_total', async () => {
    t = await createTestApp({ env: { TWILIO_AUTH_TOKEN: 'a-token-twilio-does-not-know' }, twilio: fake });
    const callSid = await liveCall(t, fake);
    await operatorApi(t).post(`/api/calls/${callSid}/siprec/gridspace/stop`).expect(502);
    const counted = await t.metrics.twilioRestCalls.get();
    expect(counted.values).toEqual([expect.objectContaining({ labels: { operation: 'stop', outcome: 'unauthorized' }, value: 1 })]);
  });
});
