import type { StartReservation } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { TEST_ACCOUNT_SID } from '../helpers/env';
import { callback, iso, MINUTE, newCall, newSession, T0, useLedger } from '../helpers/store-contract';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const MAX_OPEN = 2;

// REST starts: a slot taken in the ledger before Twilio is asked, given back if Twilio refuses, and
// completed with the SID Twilio returns.
describeEachBackend('store contract: REST starts', (backend) => {
  const ledger = useLedger(backend);

  const restCall = (callSid = newCallSid(), at = T0) => newCall({ callSid, from: null, to: null, direction: null, receivedAt: at });
  async function reserved(callSid: string, name: string, at = T0): Promise<StartReservation> {
    const r = await ledger.store.reserveStart(restCall(callSid, at), newSession(name, { connectorName: 'Rec', track: 'inbound_track' }), MAX_OPEN);
    if (!r.reserved) throw new Error(`expected a reservation, got ${r.reason}`);
    return r.reservation;
  }
  /** A call with one stopped session, last touched at T0: the purge deletes it once idle. */
  async function quietCall(): Promise<string> {
    const call = newCall();
    await ledger.store.recordRequested(call, [newSession('done')]);
    await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'done' }, { event: 'siprec-stopped' }));
    return call.callSid;
  }

  describe('reserveStart', () => {
    it('on a call the ledger has not seen: records the call and a requested session without SID, and says it made the call', async () => {
      const callSid = newCallSid();
      const r = await ledger.store.reserveStart(restCall(callSid), newSession('rec', { connectorName: 'Rec', track: 'inbound_track', siprecSid: newSiprecSid() }), MAX_OPEN);
      expect(r).toEqual({ reserved: true, reservation: { callSid, name: 'rec', at: T0, callCreated: true, activityBefore: null } });
      expect(await ledger.store.getCall(callSid)).toEqual({
        call: { callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: null, direction: null, createdAt: iso(T0) },
        sessions: [expect.objectContaining({ name: 'rec', siprecSid: null, connectorName: 'Rec', track: 'inbound_track', state: 'requested', requestedAt: iso(T0), events: [] })],
      });
    });

    it('on a known call: takes the slot beside its sessions and says the call was there before', async () => {
      const callSid = await quietCall();
      const r = await ledger.store.reserveStart(restCall(callSid, T0 + MINUTE), newSession('rec'), MAX_OPEN);
      expect(r).toEqual({ reserved: true, reservation: { callSid, name: 'rec', at: T0 + MINUTE, callCreated: false, activityBefore: expect.any(Number) } });
      expect((await ledger.store.openSessions(callSid)).map((s) => s.name)).toEqual(['rec']);
    });

    it('refuses a name the call already has, even for a session that has ended, and writes nothing', async () => {
      const callSid = await quietCall();
      const before = await ledger.store.getCall(callSid);
      expect(await ledger.store.reserveStart(restCall(callSid, T0 + MINUTE), newSession('done'), MAX_OPEN)).toEqual({ reserved: false, reason: 'name-taken' });
      expect(await ledger.store.getCall(callSid)).toEqual(before);
    });

    it('refuses a third open session, naming the open ones, and writes nothing', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('gridspace'), newSession('compliance')]);
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'gridspace' }));
      const before = await ledger.store.getCall(call.callSid);
      const r = await ledger.store.reserveStart(restCall(call.callSid, T0 + MINUTE), newSession('third'), MAX_OPEN);
      expect(r).toEqual({
        reserved: false,
        reason: 'too-many-open',
        open: [expect.objectContaining({ name: 'gridspace', state: 'active' }), expect.objectContaining({ name: 'compliance', state: 'requested' })],
      });
      expect(await ledger.store.getCall(call.callSid)).toEqual(before);
    });

    it('counts a stopped or failed session, or one asked to stop, as closed', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, ['stopped', 'failed', 'asked'].map((n) => newSession(n)));
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'stopped' }, { event: 'siprec-stopped' }));
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'failed' }, { event: 'siprec-error' }));
      await ledger.store.markStopRequested(call, ['asked'], T0);
      await reserved(call.callSid, 'one');
      await reserved(call.callSid, 'two');
      expect(await ledger.store.reserveStart(restCall(call.callSid), newSession('three'), MAX_OPEN)).toMatchObject({ reserved: false, reason: 'too-many-open' });
    });
  });

  describe('releaseStart', () => {
    it('gives back a slot on a call it made: the call goes too, and a second release finds nothing', async () => {
      const r = await reserved(newCallSid(), 'rec');
      expect(await ledger.store.releaseStart(r)).toBe(true);
      expect(await ledger.store.getCall(r.callSid)).toBeNull();
      expect(await ledger.store.releaseStart(r)).toBe(false);
      // The name is free again.
      await reserved(r.callSid, 'rec');
    });

    it('gives back a slot on a known call, and the call’s last activity with it: a refused start leaves no trace', async () => {
      const callSid = await quietCall();
      const before = await ledger.store.getCall(callSid);
      const r = await reserved(callSid, 'rec', T0 + 10 * MINUTE);
      expect(await ledger.store.releaseStart(r)).toBe(true);
      expect(await ledger.store.getCall(callSid)).toEqual(before);
      // Idle since T0 again: a purge with the cutoff before the reservation deletes it.
      expect((await ledger.store.purgeOlderThan(T0 + 5 * MINUTE, 500, T0 + 5 * MINUTE)).calls).toBe(1);
    });

    it('keeps the last activity of a call that something else touched after the reservation', async () => {
      const callSid = await quietCall();
      const r = await reserved(callSid, 'rec', T0 + 10 * MINUTE);
      await ledger.store.applyEvent(callback({ callSid, siprecName: 'elsewhere' }, { event: 'siprec-stopped', receivedAt: T0 + 11 * MINUTE }));
      expect(await ledger.store.releaseStart(r)).toBe(true);
      expect((await ledger.store.purgeOlderThan(T0 + 5 * MINUTE, 500, T0 + 5 * MINUTE)).calls).toBe(0);
    });

    it('refuses once a status callback has confirmed the session: Twilio started it after all', async () => {
      const r = await reserved(newCallSid(), 'fast');
      const siprecSid = newSiprecSid();
      await ledger.store.applyEvent(callback({ callSid: r.callSid, siprecSid, siprecName: 'fast' }));
      expect(await ledger.store.releaseStart(r)).toBe(false);
      expect((await ledger.store.getCall(r.callSid))!.sessions).toEqual([
        expect.objectContaining({ name: 'fast', siprecSid, state: 'active', events: [expect.objectContaining({ event: 'siprec-started' })] }),
      ]);
    });

    it('refuses once a stop was asked for it, or its SID recorded', async () => {
      const stopped = await reserved(newCallSid(), 'rec');
      await ledger.store.markStopRequested(restCall(stopped.callSid), ['rec'], T0 + 1);
      expect(await ledger.store.releaseStart(stopped)).toBe(false);
      const started = await reserved(newCallSid(), 'rec');
      await ledger.store.recordStarted(restCall(started.callSid, T0 + 1), newSession('rec', { siprecSid: newSiprecSid() }), T0 + 1);
      expect(await ledger.store.releaseStart(started)).toBe(false);
      expect(await ledger.store.getCall(stopped.callSid)).not.toBeNull();
      expect((await ledger.store.openSessions(started.callSid)).map((s) => s.name)).toEqual(['rec']);
    });
  });

  describe('recordStarted', () => {
    it('confirms the reservation with the SID Twilio returned, keeping when it was requested', async () => {
      const r = await reserved(newCallSid(), 'rec', T0);
      const siprecSid = newSiprecSid();
      const view = await ledger.store.recordStarted(restCall(r.callSid, T0 + 300), newSession('rec', { connectorName: 'Rec', track: 'inbound_track', siprecSid }), T0 + 300);
      expect(view).toEqual({
        callSid: r.callSid,
        name: 'rec',
        siprecSid,
        connectorName: 'Rec',
        track: 'inbound_track',
        state: 'requested',
        requestedAt: iso(T0),
        startedAt: null,
        stoppedAt: null,
        stopRequestedAt: null,
        errorCode: null,
        errorMessage: null,
      });
      expect((await ledger.store.getCall(r.callSid))!.sessions).toEqual([{ ...view, events: [] }]);
      // Its callbacks find it by that SID, under any name.
      expect(await ledger.store.applyEvent(callback({ callSid: r.callSid, siprecSid, siprecName: 'whatever' }, { receivedAt: T0 + 400 }))).toBe('stored');
      expect((await ledger.store.openSessions(r.callSid))[0]).toMatchObject({ name: 'rec', state: 'active' });
    });

    it('keeps what a callback that came first recorded', async () => {
      const r = await reserved(newCallSid(), 'rec');
      const siprecSid = newSiprecSid();
      await ledger.store.applyEvent(callback({ callSid: r.callSid, siprecSid, siprecName: 'rec' }, { receivedAt: T0 + 100 }));
      const view = await ledger.store.recordStarted(restCall(r.callSid, T0 + 200), newSession('rec', { siprecSid }), T0 + 200);
      expect(view).toMatchObject({ name: 'rec', siprecSid, state: 'active', startedAt: iso(T0 + 100), requestedAt: iso(T0) });
    });

    it('records the session and its call when there was no reservation', async () => {
      const callSid = newCallSid();
      const siprecSid = newSiprecSid();
      const view = await ledger.store.recordStarted(restCall(callSid, T0 + 5), newSession('rec', { siprecSid }), T0 + 5);
      expect(view).toMatchObject({ callSid, name: 'rec', siprecSid, state: 'requested', requestedAt: iso(T0 + 5) });
      expect((await ledger.store.getCall(callSid))!.call.createdAt).toBe(iso(T0 + 5));
    });
  });
});
