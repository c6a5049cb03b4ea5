import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { createSiprecApi, TwilioApiError, type SiprecApi, type SiprecStartOptions } from '../../src/twilio/rest';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { hex32, newCallSid } from '../helpers/twilio-requests';

const API_KEY = { sid: `SK${hex32()}`, secret: 'api-key-secret-for-tests-0123' };
const STATUS_CALLBACK = 'https://calls.example.com/siprec/twilio/siprec-status#rc=5&rp=ct,rt,5xx';

const startOptions = (overrides: Partial<SiprecStartOptions> = {}): SiprecStartOptions => ({
  connectorName: 'Gridspace_1',
  name: 'gridspace',
  track: 'both_tracks',
  statusCallback: STATUS_CALLBACK,
  statusCallbackMethod: 'POST',
  parameters: [
    { name: 'Caller', value: '+14155550100' },
    { name: 'Team', value: 'sales & support' },
  ],
  ...overrides,
});

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Resolves with what the promise rejected with, failing the test if it resolved. */
async function rejection(p: Promise<unknown>): Promise<TwilioApiError> {
  const outcome = await p.then(
    (v) => ({ ok: true as const, v }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.v)}`);
  expect(outcome.err).toBeInstanceOf(TwilioApiError);
  return outcome.err as TwilioApiError;
}

describe('SiprecApi against the fake Twilio REST API', () => {
  let fake: FakeTwilio;
  let api: SiprecApi;
  let callSid: string;

  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, apiKey: API_KEY });
    api = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, apiBaseUrl: fake.url });
    callSid = newCallSid();
    fake.calls.add(callSid);
  });
  afterEach(async () => fake.close());

  describe('start', () => {
    it('posts exactly the form fields Twilio documents, with the auth token', async () => {
      const started = await api.start(callSid, startOptions());
      expect(started).toEqual({ sid: expect.stringMatching(/^SR[0-9a-f]{32}$/), name: 'gridspace', status: 'in-progress' });
      expect(fake.requests).toEqual([
        {
          method: 'POST',
          path: `/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Calls/${callSid}/Siprec.json`,
          authorization: basic(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN),
          form: {
            Name: 'gridspace',
            ConnectorName: 'Gridspace_1',
            Track: 'both_tracks',
            StatusCallback: STATUS_CALLBACK,
            StatusCallbackMethod: 'POST',
            'Parameter1.Name': 'Caller',
            'Parameter1.Value': '+14155550100',
            'Parameter2.Name': 'Team',
            'Parameter2.Value': 'sales & support',
          },
        },
      ]);
    });

    it('numbers up to 99 parameters in order and refuses a 100th before sending anything', async () => {
      const parameters = Array.from({ length: 99 }, (_, i) => ({ name: `p${i + 1}`, value: `v${i + 1}` }));
      await api.start(callSid, startOptions({ parameters }));
      const form = fake.requests[0]!.form;
      expect(form['Parameter99.Name']).toBe('p99');
      expect(form['Parameter99.Value']).toBe('v99');
      expect(Object.keys(form).filter((k) => k.startsWith('Parameter'))).toHaveLength(198);

      await expect(api.start(callSid, startOptions({ parameters: [...parameters, { name: 'p100', value: 'v' }] }))).rejects.toThrow(/at most 99/);
      expect(fake.requests).toHaveLength(1);
    });

    it('authenticates with the API key as user name when one is given, for the same account', async () => {
      const keyed = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: 'unused', apiKeySid: API_KEY.sid, apiKeySecret: API_KEY.secret, apiBaseUrl: fake.url });
      await keyed.start(callSid, startOptions());
      expect(fake.requests[0]!.authorization).toBe(basic(API_KEY.sid, API_KEY.secret));
      expect(fake.requests[0]!.path).toContain(`/Accounts/${TEST_ACCOUNT_SID}/`);
    });

    it('keeps the base URL origin even when TWILIO_REGION and TWILIO_EDGE are set', async () => {
      const saved = { region: process.env.TWILIO_REGION, edge: process.env.TWILIO_EDGE };
      process.env.TWILIO_REGION = 'au1';
      process.env.TWILIO_EDGE = 'sydney';
      try {
        const regional = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, apiBaseUrl: fake.url });
        await expect(regional.start(callSid, startOptions())).resolves.toMatchObject({ status: 'in-progress' });
        expect(fake.requests).toHaveLength(1);
      } finally {
        for (const [k, v] of [['TWILIO_REGION', saved.region], ['TWILIO_EDGE', saved.edge]] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });
  });

  describe('stop', () => {
    it('posts Status=stopped to the session addressed by name', async () => {
      const started = await api.start(callSid, startOptions());
      const stopped = await api.stop(callSid, 'gridspace');
      expect(stopped).toEqual({ sid: started.sid, name: 'gridspace', status: 'stopped' });
      expect(fake.requests[1]).toMatchObject({
        method: 'POST',
        path: `/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Calls/${callSid}/Siprec/gridspace.json`,
        form: { Status: 'stopped' },
      });
    });

    it('also addresses the session by its SID', async () => {
      const started = await api.start(callSid, startOptions());
      await expect(api.stop(callSid, started.sid)).resolves.toEqual({ sid: started.sid, name: 'gridspace', status: 'stopped' });
    });
  });

  describe('when Twilio refuses or fails', () => {
    it('maps a 404 (call ended or unknown) to not-found with Twilio code and message', async () => {
      const err = await rejection(api.start(newCallSid(), startOptions()));
      expect(err).toMatchObject({ kind: 'not-found', status: 404, code: 20404 });
      expect(err.message).toMatch(/was not found/);
    });

    it('maps a stop of a session Twilio does not know to not-found', async () => {
      expect(await rejection(api.stop(callSid, 'nobody'))).toMatchObject({ kind: 'not-found', status: 404, code: 20404 });
    });

    it('maps a 400 to rejected with Twilio code and message', async () => {
      fake.failNext('400');
      const err = await rejection(api.start(callSid, startOptions()));
      expect(err).toMatchObject({ kind: 'rejected', status: 400, code: 21220, message: 'Invalid call state: the call is not in progress' });
    });

    it('maps a wrong auth token (401) to unauthorized: our credentials, not the operator\'s request', async () => {
      const wrong = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: 'not-the-token', apiBaseUrl: fake.url });
      expect(await rejection(wrong.start(callSid, startOptions()))).toMatchObject({ kind: 'unauthorized', status: 401, code: 20003 });
      expect(await rejection(wrong.stop(callSid, 'gridspace'))).toMatchObject({ kind: 'unauthorized', status: 401, code: 20003 });
    });

    it('maps a wrong API key secret (401) to unauthorized', async () => {
      const wrong = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: 'unused', apiKeySid: API_KEY.sid, apiKeySecret: 'not-the-secret', apiBaseUrl: fake.url });
      expect(await rejection(wrong.start(callSid, startOptions()))).toMatchObject({ kind: 'unauthorized', status: 401, code: 20003 });
    });

    it('maps an API key without access to the endpoint (403) to unauthorized', async () => {
      const restricted = { sid: `SK${hex32()}`, secret: 'restricted-key-secret-0123', restricted: true };
      const limited = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, apiKey: restricted });
      try {
        limited.calls.add(callSid);
        const keyed = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: 'unused', apiKeySid: restricted.sid, apiKeySecret: restricted.secret, apiBaseUrl: limited.url });
        const err = await rejection(keyed.start(callSid, startOptions()));
        expect(err).toMatchObject({ kind: 'unauthorized', status: 403, code: 20003 });
        expect(limited.siprecs.size).toBe(0);
      } finally {
        await limited.close();
      }
    });

    it('maps a 500 to unavailable', async () => {
      fake.failNext('500');
      expect(await rejection(api.stop(callSid, 'gridspace'))).toMatchObject({ kind: 'unavailable', status: 500, code: 20500 });
    });

    it('maps a connection reset to unavailable', async () => {
      fake.failNext('hangup');
      expect(await rejection(api.start(callSid, startOptions()))).toMatchObject({ kind: 'unavailable', status: null, code: null });
    });

    it('maps an unreachable Twilio (closed port) to unavailable', async () => {
      const gone = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID });
      await gone.close();
      const unreachable = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, apiBaseUrl: gone.url });
      const err = await rejection(unreachable.start(callSid, startOptions()));
      expect(err).toMatchObject({ kind: 'unavailable', status: null });
      expect(err.message).toMatch(/ECONNREFUSED/);
    });

    it('gives up on a Twilio that never answers after the timeout', async () => {
      const impatient = createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, apiBaseUrl: fake.url, timeoutMs: 200 });
      fake.failNext('stall');
      const began = Date.now();
      const err = await rejection(impatient.start(callSid, startOptions()));
      expect(err).toMatchObject({ kind: 'unavailable', message: 'Twilio did not answer in time' });
      expect(Date.now() - began).toBeLessThan(5000);
    });
  });

  describe('construction', () => {
    it('refuses half an API key, a bad AccountSid and a non-http base URL', () => {
      expect(() => createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: 't', apiKeySid: API_KEY.sid })).toThrow(/both/);
      expect(() => createSiprecApi({ accountSid: 'nope', authToken: 't' })).toThrow(/AccountSid/);
      expect(() => createSiprecApi({ accountSid: TEST_ACCOUNT_SID, authToken: 't', apiBaseUrl: 'ftp://127.0.0.1' })).toThrow(/http/);
    });
  });
});
