import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { createMetrics } from '../../src/metrics';
import type { SiprecApi } from '../../src/twilio/rest';
import { TEST_ACCOUNT_SID, TEST_ADMIN_TOKEN, TEST_AUTH_TOKEN } from '../helpers/env';
import { describeEachBackend } from '../helpers/backends';
import { applyEvent, basicAuth, BEARER, ledgerSnapshot, operatorApi } from '../helpers/operator-api';
import { createTestApp, FAST_FAILING_WRITES_MS, type TestApp } from '../helpers/test-app';
import { buildVoiceForm, newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const OWN_ROUTE = '+15550001111'; // two sessions: gridspace, compliance
const DEFAULT_ROUTE = '+15559990000'; // one session: Gridspace_1

describeEachBackend('operator API', (backend) => {
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

  /** Answers a call through the signed voice webhook at the current clock; returns its CallSid. */
  async function answerCall(to = OWN_ROUTE): Promise<string> {
    const form = buildVoiceForm({ To: to });
    await t.postTwilio('/twilio/voice', form).expect(200);
    return form.CallSid!;
  }

  describe('authentication', () => {
    const live = `CA${'1'.repeat(32)}`;
    const routes: Array<[string, string]> = [
      ['GET', `/api/calls/${live}`],
      ['GET', '/api/sessions'],
      ['GET', '/api/stats'],
      ['POST', `/api/calls/${live}/siprec`],
      ['POST', `/api/calls/${live}/siprec/gridspace/stop`],
      ['GET', '/api/no-such-route'],
    ];

    describe.each(routes)('%s %s', (method, path) => {
      const send = (auth?: string) => {
        const req = method === 'GET' ? request(t.app).get(path) : request(t.app).post(path).send({ connectorName: 'Gridspace_1' });
        return auth ? req.set('Authorization', auth) : req;
      };

      it.each([
        ['no credentials', undefined],
        ['a wrong Bearer token', 'Bearer wrong-token-wrong-token-wrong'],
        ['Basic with a wrong password', basicAuth('admin', 'wrong-token-wrong-token-wrong')],
      ])('with %s responds 401 with the challenge, asks Twilio nothing and writes nothing', async (_what, auth) => {
        fake.calls.add(live);
        const before = await ledgerSnapshot(t, [live]);
        const res = await send(auth).expect(401);
        expect(res.headers['www-authenticate']).toBe('Basic realm="siprec-control", charset="UTF-8"');
        expect(res.body).toEqual({ error: expect.any(String) });
        expect(fake.requests).toEqual([]);
        expect(await ledgerSnapshot(t, [live])).toEqual(before);
      });
    });

    it('accepts Basic with any user and the admin token as password', async () => {
      await request(t.app).get('/api/sessions').set('Authorization', basicAuth('anyone', TEST_ADMIN_TOKEN)).expect(200);
    });

    it('answers an unknown /api path with 404 once authenticated', async () => {
      const res = await api.get('/api/no-such-route').expect(404);
      expect(res.body).toEqual({ error: 'no route for GET /api/no-such-route' });
    });

    it('marks answers as not cacheable', async () => {
      const res = await api.get('/api/stats').expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
    });
  });

  describe('GET /api/calls/:callSid', () => {
    describe('for a call with a started session and a failed one', () => {
      it('responds 200 with the call, its sessions and their events, times in ISO 8601, absent values null and each raw payload', async () => {
        const callSid = await answerCall();
        const [started, failed] = [newSiprecSid(), newSiprecSid()];
        const payload = { CallSid: callSid, SiprecEvent: 'siprec-started', ApiVersion: '2010-04-01' };
        await applyEvent(t, { callSid, siprecName: 'gridspace', siprecSid: started, timestampRaw: 'Sat, 01 Mar 2025 12:00:05 +0000', occurredAt: T0 + 5000, receivedAt: T0 + 6000, payload });
        await applyEvent(t, {
          callSid,
          siprecName: 'compliance',
          siprecSid: failed,
          event: 'siprec-error',
          timestampRaw: 'soon',
          occurredAt: null,
          receivedAt: T0 + 7000,
          errorCode: '32101',
          errorMessage: 'connector unreachable',
        });

        const res = await api.get(`/api/calls/${callSid}`).expect(200);
        expect(res.body).toEqual({
          call: { callSid, accountSid: TEST_ACCOUNT_SID, from: '+14155550100', to: OWN_ROUTE, direction: 'inbound', createdAt: iso(T0) },
          sessions: [
            {
              name: 'gridspace',
              siprecSid: started,
              connectorName: 'Gridspace_1',
              track: 'both_tracks',
              state: 'active',
              requestedAt: iso(T0),
              startedAt: iso(T0 + 5000),
              stoppedAt: null,
              stopRequestedAt: null,
              errorCode: null,
              errorMessage: null,
              events: [{ event: 'siprec-started', timestamp: 'Sat, 01 Mar 2025 12:00:05 +0000', occurredAt: iso(T0 + 5000), receivedAt: iso(T0 + 6000), timestampSkewed: false, errorCode: null, errorMessage: null, payload }],
            },
            {
              name: 'compliance',
              siprecSid: failed,
              connectorName: 'Compliance_SRS',
              track: 'inbound_track',
              state: 'failed',
              requestedAt: iso(T0),
              startedAt: null,
              stoppedAt: null,
              stopRequestedAt: null,
              errorCode: '32101',
              errorMessage: 'connector unreachable',
              events: [{ event: 'siprec-error', timestamp: 'soon', occurredAt: null, receivedAt: iso(T0 + 7000), timestampSkewed: false, errorCode: '32101', errorMessage: 'connector unreachable', payload: {} }],
            },
          ],
        });
      });
    });

    describe('for a call the ledger does not know', () => {
      it('responds 404', async () => {
        const callSid = newCallSid();
        const res = await api.get(`/api/calls/${callSid}`).expect(404);
        expect(res.body).toEqual({ error: `call ${callSid} is not in the ledger` });
      });
    });

    describe('with a malformed CallSid', () => {
      it.each(['CA123', `ca${'0'.repeat(32)}`, `CA${'G'.repeat(32)}`, `${newCallSid()}x`])('responds 400 for %s', async (sid) => {
        const res = await api.get(`/api/calls/${sid}`).expect(400);
        expect(res.body).toEqual({ error: 'callSid is malformed', details: [{ path: '', message: expect.stringMatching(/CA followed by 32/) }] });
      });
    });
  });

  describe('GET /api/sessions', () => {
    /** Seven sessions over five calls; C and D share a millisecond, as do each call's own sessions. */
    async function seedSeven() {
      const at = async (ms: number, to: string) => ((now = T0 + ms), answerCall(to));
      const A = await at(0, OWN_ROUTE);
      const B = await at(1000, DEFAULT_ROUTE);
      const C = await at(2000, OWN_ROUTE);
      const D = await at(2000, DEFAULT_ROUTE);
      const E = await at(3000, DEFAULT_ROUTE);
      const newestFirst = [[E, 'Gridspace_1'], [D, 'Gridspace_1'], [C, 'compliance'], [C, 'gridspace'], [B, 'Gridspace_1'], [A, 'compliance'], [A, 'gridspace']];
      return { A, B, C, D, E, newestFirst };
    }
    const pairs = (body: { sessions: Array<{ callSid: string; name: string }> }) => body.sessions.map((s) => [s.callSid, s.name]);

    describe('paging 7 sessions 3 at a time', () => {
      it('returns 3 + 3 + 1, newest first, without duplicates, and nextCursor null at the end', async () => {
        const { newestFirst } = await seedSeven();
        const p1 = (await api.get('/api/sessions?limit=3').expect(200)).body;
        expect(p1.nextCursor).toEqual(expect.any(String));
        const p2 = (await api.get(`/api/sessions?limit=3&cursor=${encodeURIComponent(p1.nextCursor)}`).expect(200)).body;
        expect(p2.nextCursor).toEqual(expect.any(String));
        const p3 = (await api.get(`/api/sessions?limit=3&cursor=${encodeURIComponent(p2.nextCursor)}`).expect(200)).body;
        expect(p3.nextCursor).toBeNull();
        expect([pairs(p1).length, pairs(p2).length, pairs(p3).length]).toEqual([3, 3, 1]);
        expect([...pairs(p1), ...pairs(p2), ...pairs(p3)]).toEqual(newestFirst);
      });

      it('gives nextCursor null when the page holds the last session', async () => {
        await seedSeven();
        const body = (await api.get('/api/sessions?limit=7').expect(200)).body;
        expect(body.sessions).toHaveLength(7);
        expect(body.nextCursor).toBeNull();
      });

      it('defaults to 50 per page', async () => {
        await seedSeven();
        expect((await api.get('/api/sessions').expect(200)).body.sessions).toHaveLength(7);
      });
    });

    describe('each item', () => {
      it('carries its callSid and the call numbers beside the session fields', async () => {
        const callSid = await answerCall(DEFAULT_ROUTE);
        const { body } = await api.get('/api/sessions').expect(200);
        expect(body).toEqual({
          sessions: [
            {
              callSid,
              name: 'Gridspace_1',
              siprecSid: null,
              connectorName: 'Gridspace_1',
              track: 'inbound_track',
              state: 'requested',
              requestedAt: iso(T0),
              startedAt: null,
              stoppedAt: null,
              stopRequestedAt: null,
              errorCode: null,
              errorMessage: null,
              from: '+14155550100',
              to: DEFAULT_ROUTE,
            },
          ],
          nextCursor: null,
        });
      });
    });

    describe('with filters', () => {
      it('filters by state, callSid and connectorName, alone and together', async () => {
        const { A, C } = await seedSeven();
        await applyEvent(t, { callSid: C, siprecName: 'gridspace' });
        const get = async (q: string) => pairs((await api.get(`/api/sessions?${q}`).expect(200)).body);
        expect(await get('state=active')).toEqual([[C, 'gridspace']]);
        expect(await get(`callSid=${A}`)).toEqual([[A, 'compliance'], [A, 'gridspace']]);
        expect(await get('connectorName=Compliance_SRS')).toEqual([[C, 'compliance'], [A, 'compliance']]);
        expect(await get('connectorName=Gridspace_1&state=requested&limit=2')).toHaveLength(2);
        expect(await get('state=stopped')).toEqual([]);
      });
    });

    describe('with a bad query', () => {
      it('responds 400 listing every problem', async () => {
        const res = await api.get(`/api/sessions?limit=0&state=bogus&callSid=nope&colour=red`).expect(400);
        expect(res.body.error).toBe('query is malformed');
        const details = res.body.details as Array<{ path: string; message: string }>;
        expect(details.map((d) => d.path).sort()).toEqual(['', 'callSid', 'limit', 'state']);
        expect(details.find((d) => d.path === '')!.message).toMatch(/colour/);
        expect(details.find((d) => d.path === 'state')!.message).toBe('state must be one of requested, active, failed, stopped');
      });

      it.each(['limit=501', 'limit=abc', 'limit=2.5', 'limit=', 'limit=1&limit=2', 'state=active&state=failed'])('responds 400 for %s', async (q) => {
        const res = await api.get(`/api/sessions?${q}`).expect(400);
        expect(res.body).toEqual({ error: 'query is malformed', details: [expect.objectContaining({ path: expect.any(String), message: expect.any(String) })] });
      });

      it('responds 400 for a cursor this API did not issue', async () => {
        const res = await api.get('/api/sessions?cursor=not-a-cursor').expect(400);
        expect(res.body).toEqual({ error: 'cursor is not valid: pass the nextCursor of a previous page' });
      });
    });
  });

  describe('when the ledger cannot answer', () => {
    it('responds 503 to every read', async () => {
      // The store's connections closed under the app (t.close closes it again, harmlessly).
      await t.store.close();
      for (const path of [`/api/calls/${newCallSid()}`, '/api/sessions', '/api/stats']) {
        expect((await api.get(path).expect(503)).body).toEqual({ error: 'the ledger is unavailable; try again shortly' });
      }
    });

    it('responds 503 to a start before asking Twilio when the ledger cannot take its slot', async () => {
      await t.close();
      t = await createTestApp({ backend, twilio: fake, clock: () => now, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] });
      api = operatorApi(t);
      const callSid = await answerCall(DEFAULT_ROUTE);
      fake.calls.add(callSid);
      const release = await t.holdWrites();
      try {
        const res = await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Other' }).expect(503);
        expect(res.body).toEqual({ error: 'the ledger is unavailable; Twilio was not asked; try again shortly' });
      } finally {
        await release();
      }
      expect(fake.requests).toEqual([]);
    });

    it('responds 503 naming the session Twilio started when the ledger cannot add its SID; its callbacks complete it', async () => {
      await t.close();
      t = await createTestApp({ backend, twilio: fake, clock: () => now, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] });
      api = operatorApi(t);
      let release: (() => Promise<void>) | undefined;
      // The real REST client, and the ledger locked from the moment Twilio has answered.
      const siprecApi = { ...t.siprecApi, start: async (...args: Parameters<SiprecApi['start']>) => {
        const started = await t.siprecApi.start(...args);
        release = await t.holdWrites();
        return started;
      } };
      const app = createApp({ config: t.config, store: t.store, metrics: createMetrics(), siprecApi, logger: pino({ level: 'silent' }), clock: () => now });
      const callSid = await answerCall(DEFAULT_ROUTE);
      fake.calls.add(callSid);
      let res;
      try {
        res = await request(app).post(`/api/calls/${callSid}/siprec`).set('Authorization', BEARER).send({ connectorName: 'Other' }).expect(503);
      } finally {
        await release?.();
      }
      const sid = /^SIPREC (SR[0-9a-f]{32}) started on Twilio but the ledger could not record its SID; it is in the ledger as requested/.exec(res.body.error)?.[1];
      expect(sid).toBe([...fake.siprecs.keys()][0]);
      expect(fake.requests).toHaveLength(1);
      const kept = (await api.get(`/api/calls/${callSid}`).expect(200)).body.sessions[1];
      expect(kept).toMatchObject({ name: 'Other', connectorName: 'Other', siprecSid: null, state: 'requested' });
      await applyEvent(t, { callSid, siprecName: 'Other', siprecSid: sid });
      expect((await api.get(`/api/calls/${callSid}`).expect(200)).body.sessions[1]).toMatchObject({ name: 'Other', siprecSid: sid, state: 'active' });
    });
  });

  describe('GET /api/stats', () => {
    it('counts sessions by state, events in the last hour and day, and lists the latest errors', async () => {
      const A = await answerCall(OWN_ROUTE);
      const B = await answerCall(DEFAULT_ROUTE);
      await applyEvent(t, { callSid: A, siprecName: 'gridspace', receivedAt: T0 - 10 * 60_000 });
      await applyEvent(t, { callSid: A, siprecName: 'compliance', event: 'siprec-error', receivedAt: T0 - 5 * 60_000, errorCode: '32101', errorMessage: 'connector unreachable' });
      const sid = newSiprecSid();
      await applyEvent(t, { callSid: B, siprecName: 'Gridspace_1', siprecSid: sid, receivedAt: T0 - 3 * 3_600_000 });
      await applyEvent(t, { callSid: B, siprecName: 'Gridspace_1', siprecSid: sid, event: 'siprec-stopped', receivedAt: T0 - 2 * 3_600_000 });
      await applyEvent(t, { callSid: B, siprecName: 'Gridspace_1', siprecSid: sid, event: 'siprec-started', timestampRaw: 'two days ago', receivedAt: T0 - 48 * 3_600_000 });
      await answerCall(DEFAULT_ROUTE);

      const { body } = await api.get('/api/stats').expect(200);
      expect(body).toEqual({
        sessionsByState: { requested: 1, active: 1, failed: 1, stopped: 1 },
        eventsLastHour: 2,
        eventsLastDay: 4,
        startedLastHour: 1,
        failedLastHour: 1,
        latestErrors: [{ callSid: A, name: 'compliance', connectorName: 'Compliance_SRS', errorCode: '32101', errorMessage: 'connector unreachable', at: iso(T0 - 5 * 60_000) }],
      });
    });
  });
});
