import { describeEachBackend } from '../helpers/backends';
import { TEST_ACCOUNT_SID } from '../helpers/env';
import { callback, iso, newCall, newSession, T0, useLedger } from '../helpers/store-contract';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

// Calls and their sessions as the voice webhook and the stop paths write them, read back through getCall.
describeEachBackend('store contract: calls and sessions', (backend) => {
  const ledger = useLedger(backend);

  const requested = (name: string, connectorName: string, track: string, at = T0) => ({
    name,
    siprecSid: null,
    connectorName,
    track,
    state: 'requested',
    requestedAt: iso(at),
    startedAt: null,
    stoppedAt: null,
    stopRequestedAt: null,
    errorCode: null,
    errorMessage: null,
    events: [],
  });

  describe('recordRequested', () => {
    it('records the call and one requested session per <Siprec>, in the order given', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, [
        newSession('gridspace', { parameters: [{ name: 'Team', value: 'sales' }] }),
        newSession('compliance', { connectorName: 'Compliance_SRS', track: 'inbound_track' }),
      ]);
      expect(await ledger.store.getCall(call.callSid)).toEqual({
        call: { callSid: call.callSid, accountSid: TEST_ACCOUNT_SID, from: '+14155550100', to: '+15550001111', direction: 'inbound', createdAt: iso(T0) },
        sessions: [
          { callSid: call.callSid, ...requested('gridspace', 'Gridspace_1', 'both_tracks') },
          { callSid: call.callSid, ...requested('compliance', 'Compliance_SRS', 'inbound_track') },
        ],
      });
    });

    it('changes nothing when repeated, even later: Twilio may send the same webhook twice', async () => {
      const call = newCall();
      const sessions = [newSession('gridspace'), newSession('compliance', { connectorName: 'Compliance_SRS' })];
      await ledger.store.recordRequested(call, sessions);
      const first = await ledger.store.getCall(call.callSid);
      await ledger.store.recordRequested({ ...call, receivedAt: T0 + 5_000 }, sessions);
      await ledger.store.recordRequested(call, sessions);
      expect(await ledger.store.getCall(call.callSid)).toEqual(first);
      expect((await ledger.store.listSessions({ limit: 10, withTotal: true })).total).toBe(2);
    });

    it('adds the sessions a later write names and keeps the ones it had', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('gridspace')]);
      await ledger.store.recordRequested({ ...call, receivedAt: T0 + 1_000 }, [newSession('gridspace', { track: 'inbound_track' }), newSession('extra')]);
      const detail = await ledger.store.getCall(call.callSid);
      expect(detail!.sessions.map((s) => [s.name, s.track, s.requestedAt])).toEqual([
        ['gridspace', 'both_tracks', iso(T0)],
        ['extra', 'both_tracks', iso(T0 + 1_000)],
      ]);
    });

    it('keeps the numbers and direction first recorded, and fills only what was missing', async () => {
      const call = newCall({ from: null });
      await ledger.store.recordRequested(call, []);
      await ledger.store.recordRequested({ ...call, from: '+14155550199', to: '+15550009999', direction: 'outbound-api', receivedAt: T0 + 1 }, []);
      expect((await ledger.store.getCall(call.callSid))!.call).toEqual({
        callSid: call.callSid,
        accountSid: TEST_ACCOUNT_SID,
        from: '+14155550199',
        to: '+15550001111',
        direction: 'inbound',
        createdAt: iso(T0),
      });
    });

    it('completes a call and a session that a status callback created first, keeping the state and SID it gave', async () => {
      const callSid = newCallSid();
      const siprecSid = newSiprecSid();
      await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'gridspace' }, { receivedAt: T0 + 500, occurredAt: T0 + 400 }));
      await ledger.store.recordRequested(newCall({ callSid, receivedAt: T0 + 900 }), [newSession('gridspace'), newSession('compliance', { connectorName: 'Compliance_SRS' })]);
      const detail = await ledger.store.getCall(callSid);
      expect(detail!.call).toMatchObject({ callSid, from: '+14155550100', to: '+15550001111', direction: 'inbound', createdAt: iso(T0 + 500) });
      expect(detail!.sessions).toEqual([
        expect.objectContaining({ name: 'gridspace', siprecSid, connectorName: 'Gridspace_1', track: 'both_tracks', state: 'active', requestedAt: iso(T0 + 900), startedAt: iso(T0 + 400) }),
        expect.objectContaining({ name: 'compliance', siprecSid: null, state: 'requested', requestedAt: iso(T0 + 900) }),
      ]);
      expect(detail!.sessions[0]!.events).toHaveLength(1);
    });

    it('stores a SIPREC SID given with the session', async () => {
      const call = newCall();
      const siprecSid = newSiprecSid();
      await ledger.store.recordRequested(call, [newSession('rec', { siprecSid })]);
      expect((await ledger.store.getCall(call.callSid))!.sessions[0]).toMatchObject({ name: 'rec', siprecSid, state: 'requested' });
    });
  });

  describe('getCall', () => {
    it('gives null for a call the ledger does not hold', async () => {
      expect(await ledger.store.getCall(newCallSid())).toBeNull();
    });
  });

  describe('routeOf', () => {
    it('gives the route stored with the call, kept once set', async () => {
      const call = newCall({ route: '0:0123456789abcdef' });
      await ledger.store.recordRequested(call, [newSession('gridspace')]);
      await ledger.store.recordRequested({ ...call, route: '1:fedcba9876543210' }, [newSession('gridspace')]);
      expect(await ledger.store.routeOf(call.callSid)).toBe('0:0123456789abcdef');
    });

    it('gives null for an unknown call, or one stored without a route, until a write brings one', async () => {
      expect(await ledger.store.routeOf(newCallSid())).toBeNull();
      const callSid = newCallSid();
      await ledger.store.applyEvent(callback({ callSid }));
      expect(await ledger.store.routeOf(callSid)).toBeNull();
      await ledger.store.recordRequested(newCall({ callSid, route: '2:00000000000000aa' }), []);
      expect(await ledger.store.routeOf(callSid)).toBe('2:00000000000000aa');
    });
  });

  describe('markStopRequested', () => {
    it('sets stopRequestedAt on the named sessions, in the order named, and leaves their state and the others alone', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('a'), newSession('b'), newSession('c')]);
      const views = await ledger.store.markStopRequested({ ...call, receivedAt: T0 + 7_000 }, ['c', 'a'], T0 + 7_000);
      expect(views.map((v) => [v.name, v.state, v.stopRequestedAt])).toEqual([
        ['c', 'requested', iso(T0 + 7_000)],
        ['a', 'requested', iso(T0 + 7_000)],
      ]);
      const detail = await ledger.store.getCall(call.callSid);
      expect(detail!.sessions.map((s) => [s.name, s.stopRequestedAt])).toEqual([
        ['a', iso(T0 + 7_000)],
        ['b', null],
        ['c', iso(T0 + 7_000)],
      ]);
    });

    it('keeps the first time when asked twice', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('rec')]);
      await ledger.store.markStopRequested(call, ['rec'], T0 + 1_000);
      const [again] = await ledger.store.markStopRequested(call, ['rec'], T0 + 9_000);
      expect(again!.stopRequestedAt).toBe(iso(T0 + 1_000));
    });

    it('records an unknown session, and its call, so that a stop of a session started elsewhere is kept', async () => {
      const callSid = newCallSid();
      const views = await ledger.store.markStopRequested(newCall({ callSid, from: null, to: null, direction: null, receivedAt: T0 }), ['external'], T0);
      expect(views).toEqual([
        {
          callSid,
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
        },
      ]);
      const detail = await ledger.store.getCall(callSid);
      expect(detail!.call).toEqual({ callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: null, direction: null, createdAt: iso(T0) });
      expect(detail!.sessions).toEqual([{ ...views[0], events: [] }]);
    });

    it('marks a session that has already stopped without changing its state', async () => {
      const call = newCall();
      const siprecSid = newSiprecSid();
      await ledger.store.recordRequested(call, [newSession('rec')]);
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecSid, siprecName: 'rec' }, { event: 'siprec-stopped', receivedAt: T0 + 100 }));
      const [view] = await ledger.store.markStopRequested(call, ['rec'], T0 + 200);
      expect(view).toMatchObject({ name: 'rec', siprecSid, state: 'stopped', stoppedAt: iso(T0 + 100), stopRequestedAt: iso(T0 + 200) });
    });
  });

  describe('openSessions', () => {
    it('lists the requested and active sessions not asked to stop, in the order recorded', async () => {
      const call = newCall();
      const names = ['requested', 'active', 'failed', 'stopped', 'asked-to-stop', 'active-2'];
      await ledger.store.recordRequested(call, names.map((n) => newSession(n)));
      const event = (name: string, kind: string) => ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: name }, { event: kind, receivedAt: T0 + 10 }));
      await event('active', 'siprec-started');
      await event('failed', 'siprec-error');
      await event('stopped', 'siprec-stopped');
      await event('active-2', 'siprec-started');
      await ledger.store.markStopRequested(call, ['asked-to-stop'], T0 + 20);
      const open = await ledger.store.openSessions(call.callSid);
      expect(open.map((s) => [s.name, s.state])).toEqual([
        ['requested', 'requested'],
        ['active', 'active'],
        ['active-2', 'active'],
      ]);
      expect(open[0]).not.toHaveProperty('events');
    });

    it('gives none for a call the ledger does not hold', async () => {
      expect(await ledger.store.openSessions(newCallSid())).toEqual([]);
    });
  });
});
