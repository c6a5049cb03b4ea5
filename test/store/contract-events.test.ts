import fc from 'fast-check';
import { deriveSession } from '../../src/domain/sessions';
import type { IncomingEvent } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { TEST_ACCOUNT_SID } from '../helpers/env';
import { callback, DAY, iso, newCall, newSession, T0, useLedger } from '../helpers/store-contract';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

// Status callbacks: stored once (siprec_sid, event, timestamp_raw), the session derived from the set
// of its events whatever the order, and sessions the ledger did not know created.
describeEachBackend('store contract: status callbacks', (backend) => {
  const ledger = useLedger(backend);

  async function answered(names = ['gridspace', 'compliance']) {
    const call = newCall();
    await ledger.store.recordRequested(call, names.map((n) => newSession(n)));
    return call.callSid;
  }
  const sessionsOf = async (callSid: string) => (await ledger.store.getCall(callSid))!.sessions;

  describe('the dedupe key', () => {
    it('stores a callback once: a repeat, even later and with another payload, is a duplicate and changes nothing', async () => {
      const callSid = await answered();
      const cb = callback({ callSid }, { payload: { SiprecEvent: 'siprec-started', Try: '1' } });
      expect(await ledger.store.applyEvent(cb)).toBe('stored');
      const after = await ledger.store.getCall(callSid);
      expect(await ledger.store.applyEvent({ ...cb, receivedAt: T0 + 60_000, payload: { Try: '2' } })).toBe('duplicate');
      expect(await ledger.store.applyEvent(cb)).toBe('duplicate');
      expect(await ledger.store.getCall(callSid)).toEqual(after);
      expect(after!.sessions[0]!.events).toEqual([expect.objectContaining({ receivedAt: iso(T0), payload: { SiprecEvent: 'siprec-started', Try: '1' } })]);
    });

    it('stores the same event with another Timestamp as a second event', async () => {
      const callSid = await answered();
      const cb = callback({ callSid }, { event: 'siprec-error', errorCode: '64101' });
      await ledger.store.applyEvent(cb);
      expect(await ledger.store.applyEvent({ ...cb, timestampRaw: iso(T0 + 5_000), occurredAt: T0 + 5_000 })).toBe('stored');
      expect((await sessionsOf(callSid))[0]!.events.map((e) => e.timestamp)).toEqual([iso(T0), iso(T0 + 5_000)]);
    });

    it('takes a repeat filed under another name or call for the repeat it is, and makes no session or call for it', async () => {
      const callSid = await answered();
      const cb = callback({ callSid, siprecName: 'gridspace' });
      await ledger.store.applyEvent(cb);
      const otherCall = newCallSid();
      expect(await ledger.store.applyEvent({ ...cb, siprecName: 'renamed' })).toBe('duplicate');
      expect(await ledger.store.applyEvent({ ...cb, callSid: otherCall, siprecName: 'elsewhere' })).toBe('duplicate');
      expect((await sessionsOf(callSid)).map((s) => s.name)).toEqual(['gridspace', 'compliance']);
      expect(await ledger.store.getCall(otherCall)).toBeNull();
    });
  });

  describe('for a session the voice webhook requested', () => {
    it('moves it requested → active → stopped, with times from the Timestamp, and leaves the others alone', async () => {
      const callSid = await answered();
      const siprecSid = newSiprecSid();
      await ledger.store.applyEvent(callback({ callSid, siprecSid }, { occurredAt: T0 + 1_000, receivedAt: T0 + 1_500 }));
      expect((await sessionsOf(callSid))[0]).toMatchObject({ name: 'gridspace', siprecSid, state: 'active', startedAt: iso(T0 + 1_000) });
      await ledger.store.applyEvent(callback({ callSid, siprecSid }, { event: 'siprec-stopped', occurredAt: T0 + 300_000, receivedAt: T0 + 300_100 }));
      const [gridspace, compliance] = await sessionsOf(callSid);
      expect(gridspace).toMatchObject({ state: 'stopped', startedAt: iso(T0 + 1_000), stoppedAt: iso(T0 + 300_000), requestedAt: iso(T0) });
      expect(compliance).toMatchObject({ name: 'compliance', state: 'requested', siprecSid: null, events: [] });
    });

    it('records an error with its code and message, and keeps them when the session then stops', async () => {
      const callSid = await answered();
      const siprecSid = newSiprecSid();
      const message = 'SRS <unreachable> & "down"';
      await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'compliance' }, { event: 'siprec-error', errorCode: '64101', errorMessage: message }));
      expect((await sessionsOf(callSid))[1]).toMatchObject({ state: 'failed', errorCode: '64101', errorMessage: message });
      await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'compliance' }, { event: 'siprec-stopped', receivedAt: T0 + 1_000 }));
      expect((await sessionsOf(callSid))[1]).toMatchObject({ state: 'stopped', errorCode: '64101', errorMessage: message });
    });

    it('stores an unknown event and changes no state', async () => {
      const callSid = await answered();
      const siprecSid = newSiprecSid();
      await ledger.store.applyEvent(callback({ callSid, siprecSid }));
      expect(await ledger.store.applyEvent(callback({ callSid, siprecSid }, { event: 'siprec-paused', receivedAt: T0 + 10 }))).toBe('stored');
      const [gridspace] = await sessionsOf(callSid);
      expect(gridspace!.state).toBe('active');
      expect(gridspace!.events.map((e) => e.event)).toEqual(['siprec-started', 'siprec-paused']);
    });

    it('takes the SID of the callback on a session that had none, so that later callbacks find it by SID', async () => {
      const callSid = await answered(['rec']);
      const siprecSid = newSiprecSid();
      expect(await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'rec' }))).toBe('stored');
      expect(await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'other-name' }, { event: 'siprec-stopped', receivedAt: T0 + 10 }))).toBe('stored');
      expect(await sessionsOf(callSid)).toEqual([expect.objectContaining({ name: 'rec', siprecSid, state: 'stopped' })]);
    });
  });

  describe('for a session the ledger did not know', () => {
    it('creates the call and the session, so that nothing started by other tooling is lost', async () => {
      const callSid = newCallSid();
      const siprecSid = newSiprecSid();
      expect(await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'external' }, { receivedAt: T0 + 2_000 }))).toBe('stored');
      expect(await ledger.store.getCall(callSid)).toEqual({
        call: { callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: null, direction: null, createdAt: iso(T0 + 2_000) },
        sessions: [
          expect.objectContaining({ callSid, name: 'external', siprecSid, connectorName: null, track: null, state: 'active', requestedAt: null, startedAt: iso(T0 + 2_000) }),
        ],
      });
    });

    it('creates it with the state its first event gives: failed with its error, or stopped', async () => {
      const failed = callback({ callSid: newCallSid() }, { event: 'siprec-error', errorCode: '64102', errorMessage: 'refused' });
      const stopped = callback({ callSid: newCallSid() }, { event: 'siprec-stopped' });
      await ledger.store.applyEvent(failed);
      await ledger.store.applyEvent(stopped);
      expect((await sessionsOf(failed.callSid))[0]).toMatchObject({ state: 'failed', errorCode: '64102', errorMessage: 'refused', startedAt: null });
      expect((await sessionsOf(stopped.callSid))[0]).toMatchObject({ state: 'stopped', stoppedAt: iso(T0), startedAt: null });
    });

    it('finds the session by its SID when a later callback gives another name', async () => {
      const cb = callback({ callSid: newCallSid(), siprecName: 'first' });
      await ledger.store.applyEvent(cb);
      expect(await ledger.store.applyEvent({ ...cb, siprecName: 'renamed', event: 'siprec-stopped', receivedAt: T0 + 1 })).toBe('stored');
      expect(await sessionsOf(cb.callSid)).toEqual([expect.objectContaining({ name: 'first', state: 'stopped' })]);
    });
  });

  describe('for a callback whose SID differs from the one its session name holds', () => {
    it('stores it apart, as a session named after its SID, and leaves the recorded session alone', async () => {
      const callSid = await answered();
      const [recorded, stray] = [newSiprecSid(), newSiprecSid()];
      await ledger.store.applyEvent(callback({ callSid, siprecSid: recorded, siprecName: 'gridspace' }, { occurredAt: T0 + 1_000 }));
      const strayStop = callback({ callSid, siprecSid: stray, siprecName: 'gridspace' }, { event: 'siprec-stopped', occurredAt: T0 + 2_000 });
      expect(await ledger.store.applyEvent(strayStop)).toBe('stored-apart');
      expect(await ledger.store.applyEvent(strayStop)).toBe('duplicate');
      // Its later events join the session of its own SID.
      expect(await ledger.store.applyEvent({ ...strayStop, event: 'siprec-started', occurredAt: T0, timestampRaw: iso(T0) })).toBe('stored-apart');
      const sessions = await sessionsOf(callSid);
      expect(sessions.map((s) => [s.name, s.siprecSid, s.state, s.events.length])).toEqual([
        ['gridspace', recorded, 'active', 1],
        ['compliance', null, 'requested', 0],
        [stray, stray, 'stopped', 2],
      ]);
    });

    it('files it under a session already named after its SID that has none yet (a stop addressed by SID made it)', async () => {
      const callSid = await answered(['rec']);
      const [recorded, other] = [newSiprecSid(), newSiprecSid()];
      await ledger.store.applyEvent(callback({ callSid, siprecSid: recorded, siprecName: 'rec' }));
      await ledger.store.markStopRequested(newCall({ callSid }), [other], T0 + 5);
      expect(await ledger.store.applyEvent(callback({ callSid, siprecSid: other, siprecName: 'rec' }, { event: 'siprec-stopped', receivedAt: T0 + 10 }))).toBe('stored-apart');
      expect((await sessionsOf(callSid)).map((s) => [s.name, s.siprecSid, s.state, s.stopRequestedAt])).toEqual([
        ['rec', recorded, 'active', null],
        [other, other, 'stopped', iso(T0 + 5)],
      ]);
    });
  });

  describe('timestamps in the views', () => {
    it('keeps a Timestamp that names no real time as given, with occurredAt null, and times the session by its receipt', async () => {
      const callSid = await answered();
      await ledger.store.applyEvent(callback({ callSid }, { timestampRaw: '2026-02-30T09:00:00Z', occurredAt: null, receivedAt: T0 + 42 }));
      const [gridspace] = await sessionsOf(callSid);
      expect(gridspace!.startedAt).toBe(iso(T0 + 42));
      expect(gridspace!.events).toEqual([
        { event: 'siprec-started', timestamp: '2026-02-30T09:00:00Z', occurredAt: null, receivedAt: iso(T0 + 42), errorCode: null, errorMessage: null, payload: {}, timestampSkewed: false },
      ]);
    });

    it("keeps Twilio's time when it is more than a day from the receipt, and flags the event as skewed", async () => {
      const callSid = await answered();
      const siprecSid = newSiprecSid();
      const future = Date.UTC(2099, 0, 1);
      await ledger.store.applyEvent(callback({ callSid, siprecSid }, { occurredAt: future, receivedAt: T0 }));
      await ledger.store.applyEvent(callback({ callSid, siprecSid }, { event: 'siprec-stopped', occurredAt: T0 + DAY, receivedAt: T0 }));
      await ledger.store.applyEvent(callback({ callSid, siprecName: 'compliance' }, { occurredAt: T0 - DAY - 1, receivedAt: T0 }));
      const [gridspace, compliance] = await sessionsOf(callSid);
      expect(gridspace).toMatchObject({ startedAt: iso(future), stoppedAt: iso(T0 + DAY) });
      expect(gridspace!.events.map((e) => [e.event, e.occurredAt, e.timestampSkewed])).toEqual([
        ['siprec-started', iso(future), true],
        ['siprec-stopped', iso(T0 + DAY), false],
      ]);
      expect(compliance!.events[0]).toMatchObject({ occurredAt: iso(T0 - DAY - 1), timestampSkewed: true });
    });

    it('keeps every parameter of the payload, nested values and odd characters included', async () => {
      const callSid = await answered();
      const payload = { CallSid: callSid, SomethingNew: 'kept', Quote: `"'<&>`, Unicode: 'Zoë ☎', List: ['a', 'b'], Nested: { n: 1 } };
      await ledger.store.applyEvent(callback({ callSid }, { payload }));
      expect((await sessionsOf(callSid))[0]!.events[0]!.payload).toEqual(payload);
    });
  });

  describe('over any order of arrival, with repeats (property)', () => {
    const eventArb = fc.record({
      event: fc.constantFrom('siprec-started', 'siprec-stopped', 'siprec-error', 'siprec-future'),
      second: fc.integer({ min: 0, max: 300 }),
      code: fc.constantFrom(null, '64101', '64105'),
      parses: fc.boolean(),
    });

    it('lands on the record the set of events alone decides, whether the voice webhook came first, between or never', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(eventArb, { minLength: 1, maxLength: 6, selector: (e) => `${e.event}@${e.second}` }),
          fc.array(fc.nat(), { maxLength: 4 }),
          fc.integer({ min: -1, max: 10 }),
          fc.infiniteStream(fc.nat()),
          async (set, repeats, webhookAt, shuffle) => {
            const callSid = newCallSid();
            const siprecSid = newSiprecSid();
            const events: IncomingEvent[] = set.map((e, i) => {
              const at = T0 + e.second * 1000;
              return callback(
                { callSid, siprecSid, siprecName: 'prop' },
                {
                  event: e.event,
                  timestampRaw: e.parses ? iso(at) : `garbled ${e.second}`,
                  occurredAt: e.parses ? at : null,
                  receivedAt: T0 + 400_000 + i,
                  errorCode: e.event === 'siprec-error' ? e.code : null,
                  errorMessage: e.event === 'siprec-error' && e.code ? `error ${e.code}` : null,
                },
              );
            });
            const delivered = [...events, ...repeats.map((i) => events[i % events.length]!)];
            const order = delivered.map((e, i) => ({ e, k: shuffle.next().value + i / 1000 })).sort((a, b) => a.k - b.k);
            const results: string[] = [];
            for (const [i, { e }] of order.entries()) {
              if (i === webhookAt) await ledger.store.recordRequested(newCall({ callSid, receivedAt: T0 }), [newSession('prop')]);
              results.push(await ledger.store.applyEvent(e));
            }
            const expected = deriveSession(events);
            const detail = await ledger.store.getCall(callSid);
            expect(detail!.sessions).toHaveLength(1);
            const [s] = detail!.sessions;
            const at = (ms: number | null) => (ms === null ? null : iso(ms));
            expect(s).toMatchObject({
              name: 'prop',
              siprecSid,
              state: expected.state,
              startedAt: at(expected.startedAt),
              stoppedAt: at(expected.stoppedAt),
              errorCode: expected.errorCode,
              errorMessage: expected.errorMessage,
            });
            expect(results.filter((r) => r === 'stored')).toHaveLength(events.length);
            expect(results.filter((r) => r === 'duplicate')).toHaveLength(repeats.length);
            expect(s!.events.map((e) => `${e.event}|${e.timestamp}`).sort()).toEqual(events.map((e) => `${e.event}|${e.timestampRaw}`).sort());
          },
        ),
        { numRuns: 40 },
      );
    });
  });
});
