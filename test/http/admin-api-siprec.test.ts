import request from 'supertest';
import { startFakeTwilio, type FakeTwilio, type FakeTwilioFailure } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { describeEachBackend } from '../helpers/backends';
import { applyEvent, basicAuth, BEARER, ledgerSnapshot, operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildVoiceForm, newCallSid } from '../helpers/twilio-requests';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const STATUS_CALLBACK = 'https://calls.example.com/siprec/twilio/siprec-status#rc=5&rp=ct,rt,5xx';
const siprecPath = (callSid: string, rest = '') => `/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Calls/${callSid}/Siprec${rest}.json`;

describeEachBackend('operator API: starting and stopping SIPREC', (backend) => {
  let fake: FakeTwilio;
  let t: TestApp;
  let now: number;
  let api: ReturnType<typeof operatorApi>;

  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    now = T0;
    t = await createTestApp({ backend, twilio: fake, clock: () => now });
    api = operatorApi(t);
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
  });

  /** A call answered through the signed voice webhook and live on the fake Twilio. */
  async function liveCall(to = '+15559990000'): Promise<string> {
    const form = buildVoiceForm({ To: to });
    await t.postTwilio('/twilio/voice', form).expect(200);
    fake.calls.add(form.CallSid!);
    return form.CallSid!;
  }

  /** Twilio failures and the status the operator gets, with what Twilio said in the details. */
  const twilioFailures: Array<[string, FakeTwilioFailure, number, object]> = [
    ['refuses the request (400)', '400', 409, { twilioStatus: 400, twilioCode: 21220, twilioMessage: 'Invalid call state: the call is not in progress' }],
    ['fails (500)', '500', 502, { twilioStatus: 500, twilioCode: 20500, twilioMessage: 'An internal server error has occurred' }],
    ['hangs up', 'hangup', 502, { twilioStatus: null, twilioCode: null }],
  ];

  describe('POST /api/calls/:callSid/siprec', () => {
    describe('on a live call with one open session', () => {
      it('sends Twilio exactly the documented form fields and responds 201 with the session as GET /api/calls shows it', async () => {
        const callSid = await liveCall();
        now = T0 + 60_000;
        const res = await api
          .post(`/api/calls/${callSid}/siprec`, { connectorName: 'Compliance_SRS', name: 'compliance-2', track: 'both_tracks', parameters: { Agent: 'alice', Ticket: '42' } })
          .expect(201);

        const [sent] = [...fake.siprecs.values()];
        expect(fake.requests).toEqual([
          {
            method: 'POST',
            path: siprecPath(callSid),
            authorization: basicAuth(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN),
            form: {
              Name: 'compliance-2',
              ConnectorName: 'Compliance_SRS',
              Track: 'both_tracks',
              StatusCallback: STATUS_CALLBACK,
              StatusCallbackMethod: 'POST',
              'Parameter1.Name': 'Agent',
              'Parameter1.Value': 'alice',
              'Parameter2.Name': 'Ticket',
              'Parameter2.Value': '42',
            },
          },
        ]);
        expect(res.headers.location).toBe(`/api/calls/${callSid}`);
        expect(res.body).toEqual({
          name: 'compliance-2',
          siprecSid: sent!.sid,
          connectorName: 'Compliance_SRS',
          track: 'both_tracks',
          state: 'requested',
          requestedAt: iso(now),
          startedAt: null,
          stoppedAt: null,
          stopRequestedAt: null,
          errorCode: null,
          errorMessage: null,
          events: [],
        });
        const detail = (await api.get(`/api/calls/${callSid}`).expect(200)).body;
        expect(detail.sessions.map((s: { name: string }) => s.name)).toEqual(['Gridspace_1', 'compliance-2']);
        expect(detail.sessions[1]).toEqual(res.body);
      });

      it('names the session after its connector, on the inbound track, with no parameters, by default', async () => {
        const callSid = await liveCall();
        const res = await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Recorder_X' }).expect(201);
        expect(fake.requests[0]!.form).toEqual({ Name: 'Recorder_X', ConnectorName: 'Recorder_X', Track: 'inbound_track', StatusCallback: STATUS_CALLBACK, StatusCallbackMethod: 'POST' });
        expect(res.body).toMatchObject({ name: 'Recorder_X', track: 'inbound_track' });
      });
    });

    describe('on a live call the ledger has never seen', () => {
      it('records the call with our account and null numbers', async () => {
        const callSid = newCallSid();
        fake.calls.add(callSid);
        await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Gridspace_1' }).expect(201);
        const { body } = await api.get(`/api/calls/${callSid}`).expect(200);
        expect(body.call).toEqual({ callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: null, direction: null, createdAt: iso(T0) });
      });
    });

    describe('when the call already has two open sessions', () => {
      it('responds 409 naming them, before asking Twilio, and writes nothing', async () => {
        const callSid = await liveCall('+15550001111');
        const before = await ledgerSnapshot(t, [callSid]);
        const res = await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Third_One' }).expect(409);
        expect(res.body).toEqual({
          error: `call ${callSid} already has 2 open SIPREC sessions (at most 2); stop one first`,
          details: [{ name: 'gridspace', state: 'requested' }, { name: 'compliance', state: 'requested' }],
        });
        expect(fake.requests).toEqual([]);
        expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
      });

      it('counts a stopped session, or one asked to stop, as closed', async () => {
        const callSid = await liveCall('+15550001111');
        await applyEvent(t, { callSid, siprecName: 'compliance', event: 'siprec-stopped' });
        await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Third_One' }).expect(201);
        fake.addSiprec(callSid, 'gridspace');
        await api.post(`/api/calls/${callSid}/siprec/gridspace/stop`).expect(202);
        await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Fourth_One' }).expect(201);
        await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Fifth_One' }).expect(409);
        expect(fake.requests.map((r) => r.form.Name ?? r.form.Status)).toEqual(['Third_One', 'stopped', 'Fourth_One']);
      });
    });

    describe('when the call already has a session of that name', () => {
      it('responds 409 before asking Twilio, even if that session has ended', async () => {
        const callSid = await liveCall();
        await applyEvent(t, { callSid, siprecName: 'Gridspace_1', event: 'siprec-stopped' });
        const res = await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Gridspace_1' }).expect(409);
        expect(res.body.error).toMatch(/already has a SIPREC session named "Gridspace_1"/);
        expect(fake.requests).toEqual([]);
      });
    });

    describe('with an invalid request', () => {
      const tooMany = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`p${i}`, 'v']));
      it.each<[string, unknown, string[]]>([
        ['no connectorName', {}, ['connectorName']],
        ['an empty connectorName', { connectorName: '' }, ['connectorName']],
        ['a name with a space', { connectorName: 'Gridspace_1', name: 'has space' }, ['name']],
        ['a connectorName unfit as the default name', { connectorName: 'Gridspace 1' }, ['name']],
        ['an unknown track', { connectorName: 'Gridspace_1', track: 'both' }, ['track']],
        ['a number as parameter value', { connectorName: 'Gridspace_1', parameters: { a: 1 } }, ['parameters.a']],
        ['a parameter of 500 characters', { connectorName: 'Gridspace_1', parameters: { k: 'v'.repeat(499) } }, ['parameters.k']],
        ['100 parameters', { connectorName: 'Gridspace_1', parameters: tooMany }, ['parameters']],
        ['an unknown field', { connectorName: 'Gridspace_1', colour: 'red' }, ['']],
        ['an array', [{ connectorName: 'Gridspace_1' }], ['']],
        ['several problems', { name: 'bad name', track: 'x', parameters: 'no' }, ['connectorName', 'name', 'track', 'parameters']],
      ])('responds 400 for %s, listing the problems, and asks Twilio nothing', async (_what, body, paths) => {
        const callSid = await liveCall();
        const before = await ledgerSnapshot(t, [callSid]);
        const res = await api.post(`/api/calls/${callSid}/siprec`, body as object).expect(400);
        expect(res.body.error).toBe('request body is malformed');
        expect((res.body.details as Array<{ path: string }>).map((d) => d.path).sort()).toEqual([...paths].sort());
        expect(fake.requests).toEqual([]);
        expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
      });

      it('responds 400 without a body, 415 for a form, 400 for malformed JSON and 413 over 64 KB', async () => {
        const callSid = await liveCall();
        const path = `/api/calls/${callSid}/siprec`;
        const post = () => request(t.app).post(path).set('Authorization', BEARER);
        expect((await post().expect(400)).body).toEqual({ error: 'request body is malformed', details: [{ path: '', message: 'request body must be a JSON object' }] });
        expect((await post().type('form').send({ connectorName: 'x' }).expect(415)).body).toEqual({ error: 'request body must be application/json' });
        expect((await post().type('json').send('{"connectorName":').expect(400)).body).toEqual({ error: 'request body is malformed' });
        await post().send({ connectorName: 'x', parameters: { big: 'v'.repeat(70_000) } }).expect(413);
        expect(fake.requests).toEqual([]);
      });

      it('responds 400 for a malformed CallSid', async () => {
        await api.post('/api/calls/CA123/siprec', { connectorName: 'x' }).expect(400);
        expect(fake.requests).toEqual([]);
      });
    });

    describe('when Twilio does not know the call (it ended)', () => {
      it('responds 404 with what Twilio said and writes nothing', async () => {
        const callSid = await liveCall();
        fake.calls.delete(callSid);
        const before = await ledgerSnapshot(t, [callSid]);
        const res = await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Other' }).expect(404);
        expect(res.body).toEqual({
          error: `Twilio does not know call ${callSid} (it may have ended); nothing was recorded`,
          details: [{ twilioStatus: 404, twilioCode: 20404, twilioMessage: expect.stringMatching(/was not found/) }],
        });
        expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
      });
    });

    // A hang-up after the request may have started it: test/http/admin-api-start-race.test.ts.
    describe.each(twilioFailures.filter(([, failure]) => failure !== 'hangup'))('when Twilio %s', (_what, failure, status, details) => {
      it(`responds ${status} with what Twilio said and writes nothing`, async () => {
        const callSid = await liveCall();
        const before = await ledgerSnapshot(t, [callSid]);
        fake.failNext(failure);
        const res = await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Other' }).expect(status);
        expect(res.body.details).toEqual([expect.objectContaining(details)]);
        expect(fake.requests).toHaveLength(1);
        expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
      });
    });
  });

  describe('POST /api/calls/:callSid/siprec/:name/stop', () => {
    describe('for a session started through the API', () => {
      it('sends Status=stopped to Twilio and responds 202 with stopRequestedAt set', async () => {
        const callSid = await liveCall();
        await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Rec' }).expect(201);
        now = T0 + 90_000;
        const res = await api.post(`/api/calls/${callSid}/siprec/Rec/stop`).expect(202);
        expect(fake.requests[1]).toEqual({ method: 'POST', path: siprecPath(callSid, '/Rec'), form: { Status: 'stopped' }, authorization: basicAuth(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN) });
        expect(res.body).toMatchObject({ name: 'Rec', state: 'requested', stopRequestedAt: iso(now) });
        expect((await api.get(`/api/calls/${callSid}`).expect(200)).body.sessions[1]).toEqual(res.body);
      });

      it('keeps the first stopRequestedAt when asked twice', async () => {
        const callSid = await liveCall();
        await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Rec' }).expect(201);
        await api.post(`/api/calls/${callSid}/siprec/Rec/stop`).expect(202);
        now = T0 + 5000;
        expect((await api.post(`/api/calls/${callSid}/siprec/Rec/stop`).expect(202)).body.stopRequestedAt).toBe(iso(T0));
      });

      it('accepts the session SID instead of its name and records the stop on the named session', async () => {
        const callSid = await liveCall();
        const { siprecSid } = (await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Rec' }).expect(201)).body;
        const res = await api.post(`/api/calls/${callSid}/siprec/${siprecSid}/stop`).expect(202);
        expect(fake.requests[1]!.path).toBe(siprecPath(callSid, `/${siprecSid}`));
        expect(res.body).toMatchObject({ name: 'Rec', siprecSid, stopRequestedAt: iso(T0) });
        // No session was made under the SID: the ledger holds the call's two, and no other.
        expect((await t.store.getCall(callSid))!.sessions.map((s) => s.name)).toEqual(['Gridspace_1', 'Rec']);
        expect((await t.store.listSessions({ limit: 10, withTotal: true })).total).toBe(2);
      });
    });

    describe('for a session started by the TwiML', () => {
      it('stops it by name', async () => {
        const callSid = await liveCall();
        fake.addSiprec(callSid, 'Gridspace_1');
        const res = await api.post(`/api/calls/${callSid}/siprec/Gridspace_1/stop`).expect(202);
        expect(fake.requests[0]).toMatchObject({ path: siprecPath(callSid, '/Gridspace_1'), form: { Status: 'stopped' } });
        expect(res.body).toMatchObject({ name: 'Gridspace_1', connectorName: 'Gridspace_1', stopRequestedAt: iso(T0) });
      });
    });

    describe('for a session the ledger does not know but Twilio does', () => {
      it('still stops it and records it, and its call', async () => {
        const callSid = newCallSid();
        fake.calls.add(callSid);
        fake.addSiprec(callSid, 'external');
        const res = await api.post(`/api/calls/${callSid}/siprec/external/stop`).expect(202);
        expect(res.body).toEqual({
          name: 'external',
          siprecSid: null,
          connectorName: null,
          track: null,
          state: 'requested',
          requestedAt: null,
          startedAt: null,
          stoppedAt: null,
          stopRequestedAt: iso(T0),
          errorCode: null,
          errorMessage: null,
          events: [],
        });
        expect((await api.get(`/api/calls/${callSid}`).expect(200)).body.call).toMatchObject({ callSid, accountSid: TEST_ACCOUNT_SID, from: null });
      });
    });

    describe('when Twilio knows no such session', () => {
      it('responds 404 and writes nothing', async () => {
        const callSid = await liveCall();
        const before = await ledgerSnapshot(t, [callSid]);
        const res = await api.post(`/api/calls/${callSid}/siprec/Gridspace_1/stop`).expect(404);
        expect(res.body.error).toBe(`Twilio does not know call ${callSid} or its SIPREC session "Gridspace_1"; nothing was recorded`);
        expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
      });
    });

    describe.each(twilioFailures)('when Twilio %s', (_what, failure, status, details) => {
      it(`responds ${status} and writes nothing`, async () => {
        const callSid = await liveCall();
        fake.addSiprec(callSid, 'Gridspace_1');
        const before = await ledgerSnapshot(t, [callSid]);
        fake.failNext(failure);
        const res = await api.post(`/api/calls/${callSid}/siprec/Gridspace_1/stop`).expect(status);
        expect(res.body.details).toEqual([expect.objectContaining(details)]);
        expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
      });
    });

    describe('with a malformed name or CallSid', () => {
      it('responds 400 and asks Twilio nothing', async () => {
        const callSid = await liveCall();
        expect((await api.post(`/api/calls/${callSid}/siprec/bad%20name/stop`).expect(400)).body.error).toBe('name is malformed');
        await api.post(`/api/calls/${callSid}/siprec/${'n'.repeat(65)}/stop`).expect(400);
        await api.post('/api/calls/CAnope/siprec/Gridspace_1/stop').expect(400);
        expect(fake.requests).toEqual([]);
      });
    });
  });

  describe('when Twilio is unreachable', () => {
    it('responds 502 to a start and to a stop and writes nothing', async () => {
      const offline = await createTestApp({ backend, clock: () => T0 }); // REST calls go to a closed port on 127.0.0.1
      try {
        const form = buildVoiceForm({ To: '+15559990000' });
        await offline.postTwilio('/twilio/voice', form).expect(200);
        const before = await ledgerSnapshot(offline, [form.CallSid!]);
        const off = operatorApi(offline);
        const start = await off.post(`/api/calls/${form.CallSid}/siprec`, { connectorName: 'Other' }).expect(502);
        expect(start.body).toEqual({
          error: 'Twilio could not be reached or failed; nothing was recorded, try again',
          details: [{ twilioStatus: null, twilioCode: null, twilioMessage: 'Twilio could not be reached (ECONNREFUSED)' }],
        });
        await off.post(`/api/calls/${form.CallSid}/siprec/Gridspace_1/stop`).expect(502);
        expect(await ledgerSnapshot(offline, [form.CallSid!])).toEqual(before);
      } finally {
        await offline.close();
      }
    });
  });
});
