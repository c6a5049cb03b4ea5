import { createServer, type Server } from 'node:http';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { MAX_OPEN_SESSIONS_PER_CALL } from '../../src/domain/sessions';
import { createMetrics } from '../../src/metrics';
import { openStore } from '../../src/store';
import type { Store } from '../../src/store/store';
import type { SiprecApi } from '../../src/twilio/rest';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { describeEachBackend } from '../helpers/backends';
import { BEARER, emptyLedger, ledgerSnapshot, operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, newCallSid } from '../helpers/twilio-requests';

const TRIALS = 20;
const AT_ONCE = 10;
const START = /\/Calls\/(CA[0-9a-f]{32})\/Siprec\.json$/;

describeEachBackend('operator API: concurrent starts on one call', (backend) => {
  let fake: FakeTwilio;
  let t: TestApp;
  let server: Server;

  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = await createTestApp({ backend, twilio: fake });
    // One listening server for every request, so the ten starts really are in flight together.
    server = createServer(t.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await t.close();
    await fake.close();
  });

  const startsAskedOf = (callSid: string) => fake.requests.filter((r) => START.exec(r.path)?.[1] === callSid);
  /** Requested or active and not asked to stop, as the store counts them for the limit. */
  const openInLedger = async (callSid: string) => (await t.store.openSessions(callSid)).length;

  /** Fires `names.length` starts at once on `callSid`; returns their statuses and bodies. */
  async function startAtOnce(callSid: string, names: string[]) {
    const responses = await Promise.all(
      names.map((name) =>
        request(server).post(`/api/calls/${callSid}/siprec`).set('Authorization', BEARER).send({ connectorName: 'Recorder_X', name }),
      ),
    );
    return responses.map((r) => ({ status: r.status, body: r.body as { error?: string; name?: string } }));
  }

  describe.each([
    ['distinct names', (trial: number) => Array.from({ length: AT_ONCE }, (_, i) => `rec-${trial}-${i}`), 2],
    ['the same name', (trial: number) => Array.from({ length: AT_ONCE }, () => `rec-${trial}`), 1],
  ])(`${AT_ONCE} starts at once with %s, over ${TRIALS} trials`, (_what, namesFor, expectedStarts) => {
    it(`starts exactly ${expectedStarts} on a call the ledger has not seen, asks Twilio only for those, and refuses the rest with 409`, async () => {
      for (let trial = 0; trial < TRIALS; trial++) {
        const callSid = newCallSid();
        fake.calls.add(callSid);
        const results = await startAtOnce(callSid, namesFor(trial));
        const created = results.filter((r) => r.status === 201);
        expect({ trial, statuses: results.map((r) => r.status).sort() }).toEqual({
          trial,
          statuses: [...Array(expectedStarts).fill(201), ...Array(AT_ONCE - expectedStarts).fill(409)],
        });
        expect(startsAskedOf(callSid)).toHaveLength(created.length);
        expect(await openInLedger(callSid)).toBe(created.length);
        for (const r of results.filter((x) => x.status === 409)) {
          expect(r.body.error).toMatch(/already has (2 open SIPREC sessions|a SIPREC session named)/);
        }
        // Each session Twilio started is in the ledger with the SID Twilio gave it.
        const sids = [...fake.siprecs.values()].filter((s) => s.callSid === callSid).map((s) => s.sid).sort();
        const recorded = ((await t.store.getCall(callSid))?.sessions ?? []).map((s) => s.siprecSid).sort();
        expect(recorded).toEqual(sids);
      }
    });
  });

  it(`on a call whose TwiML holds one slot, ${AT_ONCE} starts at once start exactly one, over ${TRIALS} trials`, async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const form = buildVoiceForm({ To: '+15559990000' }); // the default route: one <Siprec>
      await t.postTwilio('/twilio/voice', form).expect(200);
      fake.calls.add(form.CallSid!);
      const results = await startAtOnce(form.CallSid!, Array.from({ length: AT_ONCE }, (_, i) => `extra-${i}`));
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(startsAskedOf(form.CallSid!)).toHaveLength(1);
      expect(await openInLedger(form.CallSid!)).toBe(2);
    }
  });

  describe('reservations from two stores on one ledger (the server\'s, and a one-shot one as the CLI or another instance has)', () => {
    it.each([
      ['distinct names', (i: number) => `n-${i}`, 2],
      ['the same name', () => 'same', 1],
    ])(`with %s, ${AT_ONCE} from each at once take exactly the free slots, over ${TRIALS} trials, and none fails`, async (_what, nameOf, expected) => {
      // On SQLite, the CLI's writer on this thread beside the server's writer thread; on PostgreSQL, a pool of its own.
      const other = await openStore(t.config.storage, { log: pino({ level: 'silent' }), mode: 'cli' });
      try {
        for (let trial = 0; trial < TRIALS; trial++) {
          const callSid = newCallSid();
          const reserve = (store: Store, i: number) =>
            store.reserveStart(
              { callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: null, direction: null, receivedAt: Date.now() },
              { name: nameOf(i), connectorName: 'Rec', track: 'inbound_track', parameters: [] },
              MAX_OPEN_SESSIONS_PER_CALL,
            );
          const results = await Promise.allSettled(Array.from({ length: AT_ONCE * 2 }, (_, i) => reserve(i % 2 === 0 ? t.store : other, i)));
          expect({ trial, failed: results.filter((r) => r.status === 'rejected') }).toEqual({ trial, failed: [] });
          const reserved = results.filter((r) => r.status === 'fulfilled' && r.value.reserved);
          expect({ trial, reserved: reserved.length }).toEqual({ trial, reserved: expected });
          expect(await t.store.openSessions(callSid)).toHaveLength(expected);
        }
      } finally {
        await other.close();
      }
    });
  });

  describe('when Twilio refuses a start', () => {
    it('releases the slot and the name: the ledger is as before, and the same start then succeeds', async () => {
      const callSid = newCallSid();
      fake.calls.add(callSid);
      const api = operatorApi(t);
      await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'One' }).expect(201);
      const before = await ledgerSnapshot(t, [callSid]);
      fake.failNext('400');
      await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Two' }).expect(409);
      expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
      await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Two' }).expect(201);
      expect(await openInLedger(callSid)).toBe(2);
    });

    it('on a call the ledger had not seen, leaves no call behind', async () => {
      const callSid = newCallSid();
      fake.calls.add(callSid);
      fake.failNext('500');
      await operatorApi(t).post(`/api/calls/${callSid}/siprec`, { connectorName: 'One' }).expect(502);
      expect(await ledgerSnapshot(t, [callSid])).toEqual(emptyLedger([callSid]));
    });

    it('gives back the slots of concurrent starts Twilio refused, and never exceeds two', async () => {
      const callSid = newCallSid();
      fake.calls.add(callSid);
      // The first two requests Twilio receives are refused; later ones are accepted.
      fake.failNext('400');
      fake.failNext('400');
      const first = await startAtOnce(callSid, Array.from({ length: AT_ONCE }, (_, i) => `r-${i}`));
      // How many got in after a refusal was given back depends on timing; the limit does not.
      const created = first.filter((r) => r.status === 201).length;
      expect(created).toBeLessThanOrEqual(2);
      expect(first.filter((r) => r.status === 409)).toHaveLength(AT_ONCE - created);
      expect(startsAskedOf(callSid)).toHaveLength(created + 2);
      expect(await openInLedger(callSid)).toBe(created);
      const second = await startAtOnce(callSid, Array.from({ length: AT_ONCE }, (_, i) => `s-${i}`));
      expect(created + second.filter((r) => r.status === 201).length).toBe(2);
      expect(startsAskedOf(callSid)).toHaveLength(4);
      expect(await openInLedger(callSid)).toBe(2);
    });
  });

  describe('when its status callback arrives before Twilio answers the start, and the answer is a refusal', () => {
    it('keeps the session its callback confirmed, with its event, and does not say nothing was recorded', async () => {
      const callSid = newCallSid();
      fake.calls.add(callSid);
      const cb = buildStatusCallback({ CallSid: callSid, SiprecName: 'Fast' });
      // Twilio calls back while its answer to the start is still on the way; the answer then refuses.
      const siprecApi: SiprecApi = {
        ...t.siprecApi,
        start: async (...args) => {
          await t.postTwilio('/twilio/siprec-status', cb).expect(204);
          return t.siprecApi.start(...args);
        },
      };
      const app = createApp({ config: t.config, store: t.store, metrics: createMetrics(), siprecApi, logger: pino({ level: 'silent' }) });
      fake.failNext('400');
      const res = await request(app).post(`/api/calls/${callSid}/siprec`).set('Authorization', BEARER).send({ connectorName: 'Fast' }).expect(502);
      expect(res.body.error).not.toMatch(/nothing was recorded/);
      expect(res.body.error).toMatch(/status callback .*SIPREC "Fast".*ledger keeps it/);
      const { body } = await operatorApi(t).get(`/api/calls/${callSid}`).expect(200);
      expect(body.sessions).toEqual([expect.objectContaining({ name: 'Fast', siprecSid: cb.SiprecSid, state: 'active', events: [expect.objectContaining({ event: 'siprec-started' })] })]);
    });
  });

  describe('a stop addressed by SID to a second session Twilio runs under a recorded name', () => {
    it('files the stop under that SID, leaves the recorded session open, and still holds the limit of two', async () => {
      const callSid = newCallSid();
      fake.calls.add(callSid);
      const api = operatorApi(t);
      const recorded = (await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Rec', name: 'rec' }).expect(201)).body.siprecSid as string;
      await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Rec', name: 'second' }).expect(201);
      // Other tooling started another session under the same name.
      const other = fake.addSiprec(callSid, 'rec');

      const res = await api.post(`/api/calls/${callSid}/siprec/${other.sid}/stop`).expect(202);
      expect(res.body).toMatchObject({ name: other.sid, stopRequestedAt: expect.any(String) });
      const { body } = await api.get(`/api/calls/${callSid}`).expect(200);
      expect(body.sessions.find((s: { name: string }) => s.name === 'rec')).toMatchObject({ siprecSid: recorded, stopRequestedAt: null });
      // 'rec' and 'second' are still recording on Twilio: a third start is refused, and Twilio not asked.
      const asked = startsAskedOf(callSid).length;
      await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Rec', name: 'third' }).expect(409);
      expect(startsAskedOf(callSid)).toHaveLength(asked);

      // Its callback joins the session the stop filed, rather than merging into 'rec'.
      await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: callSid, SiprecName: 'rec', SiprecSid: other.sid, SiprecEvent: 'siprec-stopped' })).expect(204);
      const after = (await api.get(`/api/calls/${callSid}`).expect(200)).body.sessions as Array<{ name: string; siprecSid: string; state: string }>;
      expect(after.map((s) => [s.name, s.siprecSid, s.state])).toEqual([
        ['rec', recorded, 'requested'],
        ['second', expect.any(String), 'requested'],
        [other.sid, other.sid, 'stopped'],
      ]);
    });
  });

  describe('when Twilio may have started it but did not say (the connection dropped after the request)', () => {
    it('keeps the reservation as requested, holding the slot and the name, and says so; its status callback then confirms it', async () => {
      const callSid = newCallSid();
      fake.calls.add(callSid);
      const api = operatorApi(t);
      fake.failNext('hangup');
      const res = await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Maybe' }).expect(502);
      expect(res.body.error).toMatch(/may have started SIPREC "Maybe"/);
      const { body } = await api.get(`/api/calls/${callSid}`).expect(200);
      expect(body.sessions).toEqual([expect.objectContaining({ name: 'Maybe', connectorName: 'Maybe', siprecSid: null, state: 'requested' })]);
      expect((await api.post(`/api/calls/${callSid}/siprec`, { connectorName: 'Maybe' }).expect(409)).body.error).toMatch(/named "Maybe"/);

      const cb = buildStatusCallback({ CallSid: callSid, SiprecName: 'Maybe' });
      await t.postTwilio('/twilio/siprec-status', cb).expect(204);
      const after = (await api.get(`/api/calls/${callSid}`).expect(200)).body;
      expect(after.sessions).toEqual([expect.objectContaining({ name: 'Maybe', connectorName: 'Maybe', siprecSid: cb.SiprecSid, state: 'active' })]);
    });

    it('releases it when the request never reached Twilio (connection refused)', async () => {
      const offline = await createTestApp({ backend }); // REST calls go to a closed port on 127.0.0.1
      try {
        const callSid = newCallSid();
        await operatorApi(offline).post(`/api/calls/${callSid}/siprec`, { connectorName: 'Nowhere' }).expect(502);
        expect(await ledgerSnapshot(offline, [callSid])).toEqual(emptyLedger([callSid]));
      } finally {
        await offline.close();
      }
    });
  });
});
