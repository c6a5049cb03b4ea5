import fc from 'fast-check';
import pino from 'pino';
import request from 'supertest';
import { deriveSession } from '../../src/domain/sessions';
import { TEST_PUBLIC_BASE_URL } from '../helpers/env';
import { describeEachBackend } from '../helpers/backends';
import { emptyLedger, ledgerEvents, ledgerSnapshot, operatorApi } from '../helpers/operator-api';
import { createTestApp, FAST_FAILING_WRITES_MS, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, newCallSid, newSiprecSid, sign } from '../helpers/twilio-requests';

const PATH = '/twilio/siprec-status';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
/** The call's sessions in the order they were recorded, each with its events. */
async function sessionRows(t: TestApp, callSid: string) {
  return (await t.store.getCall(callSid))?.sessions ?? [];
}
async function eventCount(t: TestApp) {
  return (await ledgerEvents(t)).length;
}
/** The call's events that carried `siprecSid` (each keeps its callback as sent). */
async function eventsWithSid(t: TestApp, callSid: string, siprecSid: string) {
  return (await sessionRows(t, callSid)).flatMap((s) => s.events).filter((e) => e.payload.SiprecSid === siprecSid).length;
}

describeEachBackend('POST /twilio/siprec-status', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend })));
  afterEach(async () => t.close());

  async function answeredCall() {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    return form.CallSid!;
  }

  describe('for a session our TwiML requested', () => {
    it('moves it requested → active → stopped, with times from Twilio’s Timestamp', async () => {
      const callSid = await answeredCall();
      const siprecSid = newSiprecSid();
      const started = buildStatusCallback({ CallSid: callSid, SiprecSid: siprecSid, SiprecName: 'gridspace', Timestamp: '2026-11-26T09:00:01Z' });
      await t.postTwilio(PATH, started).expect(204);
      expect((await sessionRows(t, callSid))[0]).toMatchObject({ name: 'gridspace', siprecSid, state: 'active', startedAt: iso(Date.UTC(2026, 10, 26, 9, 0, 1)) });
      await t.postTwilio(PATH, { ...started, SiprecEvent: 'siprec-stopped', Timestamp: '2026-11-26T09:05:00Z' }).expect(204);
      expect((await sessionRows(t, callSid))[0]).toMatchObject({ state: 'stopped', stoppedAt: iso(Date.UTC(2026, 10, 26, 9, 5)) });
      expect((await sessionRows(t, callSid))[1]).toMatchObject({ name: 'compliance', state: 'requested' });
    });

    it('records an error with its code and message, and keeps it when the session then stops', async () => {
      const callSid = await answeredCall();
      const cb = buildStatusCallback({ CallSid: callSid, SiprecName: 'compliance' });
      await t.postTwilio(PATH, { ...cb, SiprecEvent: 'siprec-error', SiprecErrorCode: '64101', SiprecError: 'SRS <unreachable> & "down"' }).expect(204);
      expect((await sessionRows(t, callSid))[1]).toMatchObject({ state: 'failed', errorCode: '64101', errorMessage: 'SRS <unreachable> & "down"' });
      await t.postTwilio(PATH, { ...cb, SiprecEvent: 'siprec-stopped', Timestamp: new Date(Date.now() + 1000).toISOString() }).expect(204);
      expect((await sessionRows(t, callSid))[1]).toMatchObject({ state: 'stopped', errorCode: '64101' });
    });

    it('keeps every parameter Twilio sent, known or not, as the raw payload', async () => {
      const callSid = await answeredCall();
      const cb = buildStatusCallback({ CallSid: callSid, ApiVersion: '2010-04-01', SomethingNew: 'kept' });
      await t.postTwilio(PATH, cb).expect(204);
      const events = await ledgerEvents(t);
      expect(events).toHaveLength(1);
      expect(events[0]!.payload).toEqual(cb);
      expect(events[0]!.timestamp).toBe(cb.Timestamp);
    });
  });

  describe('when Twilio retries a callback', () => {
    it('acknowledges every repeat and stores the event once, whatever its idempotency token', async () => {
      const callSid = await answeredCall();
      const cb = buildStatusCallback({ CallSid: callSid });
      for (const token of ['a', 'b', 'c']) await t.postTwilio(PATH, cb).set('I-Twilio-Idempotency-Token', token).expect(204);
      expect(await eventCount(t)).toBe(1);
    });

    it('stores the same event with another Timestamp as a second event', async () => {
      const cb = buildStatusCallback({ SiprecEvent: 'siprec-error', Timestamp: '2026-11-26T09:00:00Z' });
      await t.postTwilio(PATH, cb).expect(204);
      await t.postTwilio(PATH, { ...cb, Timestamp: '2026-11-26T09:00:05Z' }).expect(204);
      expect(await eventCount(t)).toBe(2);
    });
  });

  describe('for a session we did not request', () => {
    it('creates the call and the session, so nothing started by other tooling is lost', async () => {
      const cb = buildStatusCallback({ SiprecName: 'external' });
      await t.postTwilio(PATH, cb).expect(204);
      const { calls } = await ledgerSnapshot(t);
      expect(Object.values(calls).map((c) => c!.call)).toEqual([expect.objectContaining({ callSid: cb.CallSid, accountSid: cb.AccountSid, from: null })]);
      expect(await sessionRows(t, cb.CallSid!)).toEqual([expect.objectContaining({ name: 'external', siprecSid: cb.SiprecSid, state: 'active', connectorName: null })]);
    });

    it('finds the session by SiprecSid when the name differs', async () => {
      const cb = buildStatusCallback({ SiprecName: 'first' });
      await t.postTwilio(PATH, cb).expect(204);
      await t.postTwilio(PATH, { ...cb, SiprecName: 'renamed', SiprecEvent: 'siprec-stopped', Timestamp: new Date(Date.now() + 1).toISOString() }).expect(204);
      expect(await sessionRows(t, cb.CallSid!)).toEqual([expect.objectContaining({ name: 'first', state: 'stopped' })]);
    });

    it('names a session without SiprecName after its SID', async () => {
      const cb = buildStatusCallback();
      delete cb.SiprecName;
      await t.postTwilio(PATH, cb).expect(204);
      expect((await sessionRows(t, cb.CallSid!))[0]).toMatchObject({ name: cb.SiprecSid });
    });
  });

  describe('for a callback whose SiprecSid differs from the SID its session recorded', () => {
    it('stores it as its own session named after its SID, leaves the recorded one alone, and logs a warning with both SIDs', async () => {
      await t.close();
      const logs: Array<Record<string, unknown>> = [];
      t = await createTestApp({ backend, logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }) });
      const callSid = await answeredCall();
      const recorded = newSiprecSid();
      const stray = newSiprecSid();
      await t.postTwilio(PATH, buildStatusCallback({ CallSid: callSid, SiprecSid: recorded, SiprecName: 'gridspace', Timestamp: '2026-11-26T09:00:01Z' })).expect(204);
      const strayStop = buildStatusCallback({ CallSid: callSid, SiprecSid: stray, SiprecName: 'gridspace', SiprecEvent: 'siprec-stopped', Timestamp: '2026-11-26T09:00:02Z' });
      await t.postTwilio(PATH, strayStop).expect(204);

      const rows = await sessionRows(t, callSid);
      expect(rows).toHaveLength(3);
      expect(rows[0]).toMatchObject({ name: 'gridspace', siprecSid: recorded, state: 'active' });
      expect(rows[2]).toMatchObject({ name: stray, siprecSid: stray, state: 'stopped' });
      expect(logs.filter((l) => l.level === 40)).toEqual([
        expect.objectContaining({ callSid, siprecName: 'gridspace', siprecSid: stray, recordedSiprecSid: recorded, storedAs: stray }),
      ]);

      // A retry of it is a repeat, and its later events join the session of its own SID.
      await t.postTwilio(PATH, strayStop).expect(204);
      await t.postTwilio(PATH, { ...strayStop, SiprecEvent: 'siprec-started', Timestamp: '2026-11-26T09:00:00Z' }).expect(204);
      expect(await sessionRows(t, callSid)).toHaveLength(3);
      expect(await eventsWithSid(t, callSid, stray)).toBe(2);
      expect(await eventsWithSid(t, callSid, recorded)).toBe(1);
    });
  });

  describe('with a Timestamp that names no real time', () => {
    const RECEIVED = Date.parse('2026-03-01T10:00:00.000Z');
    beforeEach(async () => {
      await t.close();
      t = await createTestApp({ backend, clock: () => RECEIVED });
    });

    it.each(['2026-02-30T09:00:00Z', 'Mon, 30 Feb 2026 09:00:00 +0000', '2026-04-31T09:00:00Z'])(
      'treats %s as unparsable: keeps the raw string and times the session by its receipt',
      async (timestamp) => {
        const callSid = await answeredCall();
        await t.postTwilio(PATH, buildStatusCallback({ CallSid: callSid, SiprecName: 'gridspace', Timestamp: timestamp })).expect(204);
        expect((await sessionRows(t, callSid))[0]).toMatchObject({ state: 'active', startedAt: iso(RECEIVED) });
        const { body } = await operatorApi(t).get(`/api/calls/${callSid}`).expect(200);
        expect(body.sessions[0].startedAt).toBe(new Date(RECEIVED).toISOString());
        // occurredAt is the instant the ledger read from it: none, so no reader parses the raw string again.
        expect(body.sessions[0].events[0]).toMatchObject({ timestamp, occurredAt: null, timestampSkewed: false });
      },
    );
  });

  describe('with a Timestamp more than a day from when it arrived', () => {
    const RECEIVED = Date.parse('2026-03-01T10:00:00.000Z');
    beforeEach(async () => {
      await t.close();
      t = await createTestApp({ backend, clock: () => RECEIVED });
    });

    it("keeps Twilio's time and flags the event as skewed in the API", async () => {
      const callSid = await answeredCall();
      const cb = buildStatusCallback({ CallSid: callSid, SiprecName: 'gridspace', Timestamp: '2099-01-01T00:00:00Z' });
      await t.postTwilio(PATH, cb).expect(204);
      await t.postTwilio(PATH, { ...cb, SiprecEvent: 'siprec-stopped', Timestamp: '2026-03-01T09:59:00Z' }).expect(204);
      await t.postTwilio(PATH, buildStatusCallback({ CallSid: callSid, SiprecName: 'compliance', Timestamp: '2026-02-28T09:59:59Z' })).expect(204);
      const { body } = await operatorApi(t).get(`/api/calls/${callSid}`).expect(200);
      const [gridspace, compliance] = body.sessions;
      expect(gridspace).toMatchObject({ startedAt: '2099-01-01T00:00:00.000Z', stoppedAt: '2026-03-01T09:59:00.000Z' });
      expect(gridspace.events.map((e: { event: string; occurredAt: string; timestampSkewed: boolean }) => [e.event, e.occurredAt, e.timestampSkewed])).toEqual([
        ['siprec-started', '2099-01-01T00:00:00.000Z', true],
        ['siprec-stopped', '2026-03-01T09:59:00.000Z', false],
      ]);
      expect(compliance.events[0].timestampSkewed).toBe(true);
    });
  });

  describe('with an unknown SiprecEvent', () => {
    it('stores it, changes no state, and acknowledges it', async () => {
      const callSid = await answeredCall();
      await t.postTwilio(PATH, buildStatusCallback({ CallSid: callSid, SiprecEvent: 'siprec-started' })).expect(204);
      await t.postTwilio(PATH, buildStatusCallback({ CallSid: callSid, SiprecEvent: 'siprec-paused' })).expect(204);
      expect(await eventCount(t)).toBe(2);
      expect((await sessionRows(t, callSid))[0]).toMatchObject({ state: 'active' });
    });
  });

  describe('with malformed input', () => {
    it.each([
      ['SiprecSid', { SiprecSid: 'SR123' }],
      ['CallSid', { CallSid: 'nope' }],
      ['SiprecEvent', { SiprecEvent: '' }],
      ['Timestamp', { Timestamp: '' }],
    ])('answers 400 naming %s and stores nothing', async (field, change) => {
      const res = await t.postTwilio(PATH, buildStatusCallback(change)).expect(400);
      expect(res.body.error).toBe('status callback is malformed');
      expect(res.body.details.map((d: { path: string }) => d.path)).toEqual([field]);
      expect(await eventCount(t)).toBe(0);
    });

    it('names every missing required field at once', async () => {
      const res = await t.postTwilio(PATH, { AccountSid: buildStatusCallback().AccountSid! }).expect(400);
      expect(res.body.details.map((d: { path: string }) => d.path).sort()).toEqual(['CallSid', 'SiprecEvent', 'SiprecSid', 'Timestamp']);
    });
  });

  describe('when the request is not from Twilio', () => {
    it('answers 403 to a forged signature and stores nothing', async () => {
      await t.postTwilio(PATH, buildStatusCallback(), 'forged-token').expect(403);
      await request(t.app).post(PATH).type('form').send(buildStatusCallback()).expect(400);
      expect(await eventCount(t)).toBe(0);
      expect(await ledgerSnapshot(t)).toEqual(emptyLedger());
    });
  });

  describe('when the database cannot commit (another connection holds the write locks)', () => {
    beforeEach(async () => {
      await t.close();
      t = await createTestApp({ backend, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] });
    });

    it('answers 503 with Retry-After, acknowledges nothing, and stores it once the fault is gone', async () => {
      const cb = buildStatusCallback();
      const release = await t.holdWrites();
      const res = await t.postTwilio(PATH, cb).expect(503);
      expect(res.headers['retry-after']).toBe('1');
      // The one answer every route gives while the ledger cannot commit (src/http/errors.ts).
      expect(res.body).toEqual({ error: 'the ledger is unavailable; try again shortly' });
      await release();
      expect(await eventCount(t)).toBe(0);
      await t.postTwilio(PATH, cb).expect(204);
      expect(await eventCount(t)).toBe(1);
    });
  });

  describe('over random orders and repeats (property)', () => {
    it('lands on the record that the set of events alone decides', async () => {
      const eventArb = fc.record({
        event: fc.constantFrom('siprec-started', 'siprec-stopped', 'siprec-error', 'siprec-future'),
        second: fc.integer({ min: 0, max: 300 }),
        code: fc.constantFrom('', '64101', '64105'),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(eventArb, { minLength: 1, maxLength: 5, selector: (e) => `${e.event}@${e.second}` }),
          fc.array(fc.nat(), { maxLength: 5 }),
          fc.infiniteStream(fc.nat()),
          async (set, repeats, shuffle) => {
            const callSid = newCallSid();
            const siprecSid = newSiprecSid();
            const forms = set.map((e) => {
              const f = buildStatusCallback({ CallSid: callSid, SiprecSid: siprecSid, SiprecName: 'prop', SiprecEvent: e.event, Timestamp: new Date(Date.UTC(2026, 0, 1) + e.second * 1000).toISOString() });
              return e.event === 'siprec-error' && e.code ? { ...f, SiprecErrorCode: e.code, SiprecError: `error ${e.code}` } : f;
            });
            const delivered = [...forms, ...repeats.map((i) => forms[i % forms.length]!)];
            const order = delivered.map((f, i) => ({ f, k: shuffle.next().value + i / 1000 })).sort((a, b) => a.k - b.k);
            for (const { f } of order) await t.postTwilio(PATH, f).expect(204);

            const expected = deriveSession(
              forms.map((f) => ({ event: f.SiprecEvent!, timestampRaw: f.Timestamp!, occurredAt: Date.parse(f.Timestamp!), receivedAt: 0, errorCode: f.SiprecErrorCode ?? null, errorMessage: f.SiprecError ?? null })),
            );
            const [row, ...others] = await sessionRows(t, callSid);
            expect(others).toEqual([]);
            expect(row).toMatchObject({ state: expected.state, startedAt: iso(expected.startedAt), stoppedAt: iso(expected.stoppedAt), errorCode: expected.errorCode, errorMessage: expected.errorMessage });
            expect(await eventsWithSid(t, callSid, siprecSid)).toBe(forms.length);
          },
        ),
        { numRuns: 40 },
      );
    });
  });
});

describeEachBackend('GET /twilio/siprec-status', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend })));
  afterEach(async () => t.close());

  it('records a callback sent with statusCallbackMethod=GET', async () => {
    const cb = buildStatusCallback();
    const path = `${PATH}?${new URLSearchParams(cb)}`;
    await request(t.app).get(path).set('X-Twilio-Signature', sign(TEST_PUBLIC_BASE_URL + path, {})).expect(204);
    expect(await sessionRows(t, cb.CallSid!)).toEqual([expect.objectContaining({ state: 'active' })]);
  });
});
