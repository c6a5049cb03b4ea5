import { deriveSession } from '../../src/domain/sessions';
import type { IncomingEvent, Store } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { atOnce, callback, iso, MINUTE, newCall, newSession, POLICY, T0, useLedger, type ContractLedger } from '../helpers/store-contract';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const TRIALS = 8;

/** What every write of a test settled to: rejections are failures of the contract, never retried here. */
function fulfilled<T>(results: PromiseSettledResult<T>[]): T[] {
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason));
  expect({ failed }).toEqual({ failed: [] });
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

// Writes that arrive at the same moment, on one instance or on two sharing the database: what the
// ledger ends with must be what one instance taking them one by one would give. Two stores on one
// database stand for two instances (SQLite: two connections on one file).
describeEachBackend('store contract: writes at the same moment, on one instance or two', (backend) => {
  const ledger: ContractLedger = useLedger(backend, { writeTimeoutMs: 10_000 });
  let stores: Store[];
  beforeEach(async () => {
    stores = [ledger.store, await ledger.openAnother()];
  });
  const on = (i: number) => stores[i % stores.length]!;

  it('stores the same callback once when it is delivered to both instances at once, for a known or an unknown session', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const callSid = newCallSid();
      if (trial % 2 === 0) await ledger.store.recordRequested(newCall({ callSid }), [newSession('gridspace')]);
      const cb = callback({ callSid, siprecName: 'gridspace' }, { event: 'siprec-error', errorCode: '64101' });
      const results = fulfilled(await atOnce(6, (i) => on(i).applyEvent(cb, POLICY)));
      expect({ trial, results: results.sort() }).toEqual({ trial, results: ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'stored'] });
      const detail = await ledger.store.getCall(callSid);
      expect({ trial, sessions: detail!.sessions.map((s) => [s.name, s.state, s.events.length]) }).toEqual({ trial, sessions: [['gridspace', 'failed', 1]] });
    }
    const alerts = await ledger.store.alerts.list(100);
    expect(alerts.filter((a) => a.kind === 'siprec-error')).toHaveLength(TRIALS);
  });

  it('derives the same state as one instance would when the events of one session arrive on both at once', async () => {
    const kinds = ['siprec-started', 'siprec-error', 'siprec-stopped', 'siprec-started', 'siprec-error'];
    for (let trial = 0; trial < TRIALS; trial++) {
      const callSid = newCallSid();
      const siprecSid = newSiprecSid();
      if (trial % 2 === 0) await ledger.store.recordRequested(newCall({ callSid }), [newSession('rec')]);
      // A different subset each trial, with times that do not follow the order of sending.
      const events: IncomingEvent[] = kinds.slice(0, 2 + (trial % 4)).map((event, i) =>
        callback({ callSid, siprecSid, siprecName: 'rec' }, { event, occurredAt: T0 + ((i * 7 + trial) % 5) * 1000 + i, receivedAt: T0 + 10_000 + i, errorCode: event === 'siprec-error' ? `6410${i}` : null }),
      );
      const results = fulfilled(await atOnce(events.length * 2, (i) => on(i).applyEvent(events[Math.floor(i / 2)]!)));
      expect(results.filter((r) => r === 'stored')).toHaveLength(events.length);
      const expected = deriveSession(events);
      const [s] = (await ledger.store.getCall(callSid))!.sessions;
      const at = (ms: number | null) => (ms === null ? null : iso(ms));
      expect({ trial, s }).toEqual({
        trial,
        s: expect.objectContaining({ name: 'rec', siprecSid, state: expected.state, startedAt: at(expected.startedAt), stoppedAt: at(expected.stoppedAt), errorCode: expected.errorCode }),
      });
      expect(s!.events).toHaveLength(events.length);
    }
  });

  it('gives one call and one session when a callback and the voice webhook of its call arrive at once on the two', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const call = newCall();
      const siprecSid = newSiprecSid();
      const writes: Array<() => Promise<unknown>> = [
        () => on(trial).recordRequested(call, [newSession('gridspace'), newSession('compliance', { connectorName: 'Compliance_SRS' })]),
        () => on(trial + 1).applyEvent(callback({ callSid: call.callSid, siprecSid, siprecName: 'gridspace' }, { receivedAt: T0 + 1 })),
      ];
      fulfilled(await atOnce(2, (i) => writes[(i + trial) % 2]!()));
      const detail = await ledger.store.getCall(call.callSid);
      expect({ trial, call: detail!.call.from, sessions: detail!.sessions.map((s) => [s.name, s.siprecSid, s.connectorName, s.state, s.events.length]) }).toEqual({
        trial,
        call: '+14155550100',
        sessions: [
          ['gridspace', siprecSid, 'Gridspace_1', 'active', 1],
          ['compliance', null, 'Compliance_SRS', 'requested', 0],
        ],
      });
    }
  });

  describe.each([
    ['distinct names', (i: number) => `rec-${i}`, 2, 'too-many-open'],
    ['the same name', () => 'rec', 1, 'name-taken'],
  ])('ten REST starts on one call at once, with %s', (_what, nameOf, expected, reason) => {
    it(`reserve exactly ${expected}, refuse the rest as ${reason}, and none fails`, async () => {
      for (let trial = 0; trial < TRIALS; trial++) {
        const callSid = newCallSid();
        const call = newCall({ callSid, from: null, to: null, direction: null });
        const results = fulfilled(await atOnce(10, (i) => on(i).reserveStart(call, newSession(nameOf(i)), 2)));
        expect({ trial, reserved: results.filter((r) => r.reserved).length }).toEqual({ trial, reserved: expected });
        expect(results.filter((r) => !r.reserved && r.reason !== reason)).toEqual([]);
        expect(await ledger.store.openSessions(callSid)).toHaveLength(expected);
      }
    });
  });

  it('fill the one free slot of a call the voice webhook recorded with exactly one start', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('Gridspace_1')]);
      const results = fulfilled(await atOnce(10, (i) => on(i).reserveStart({ ...call, receivedAt: T0 + 1 }, newSession(`extra-${i}`), 2)));
      expect({ trial, reserved: results.filter((r) => r.reserved).length }).toEqual({ trial, reserved: 1 });
      expect(await ledger.store.openSessions(call.callSid)).toHaveLength(2);
    }
  });

  it('raises error-burst once for errors on one connector arriving on both instances at once', async () => {
    const errors = Array.from({ length: 12 }, (_, i) =>
      callback({ callSid: newCallSid(), siprecName: 'rec' }, { event: 'siprec-error', receivedAt: T0 + i, occurredAt: T0 + i }),
    );
    for (const e of errors) await ledger.store.recordRequested(newCall({ callSid: e.callSid }), [newSession('rec', { connectorName: 'Burst_1' })]);
    fulfilled(await atOnce(errors.length, (i) => on(i).applyEvent(errors[i]!, POLICY)));
    const alerts = await ledger.store.alerts.list(100);
    expect(alerts.filter((a) => a.kind === 'siprec-error')).toHaveLength(12);
    expect(alerts.filter((a) => a.kind === 'error-burst')).toEqual([expect.objectContaining({ connectorName: 'Burst_1' })]);
  });

  it('hands each due alert to one claim only when both instances claim at once', async () => {
    for (let i = 0; i < 20; i++) {
      await ledger.store.applyEvent(callback({ callSid: newCallSid() }, { event: 'siprec-error', receivedAt: T0 + i }), POLICY);
    }
    const claims = fulfilled(await atOnce(6, (i) => on(i).alerts.claimDue(T0 + MINUTE, MINUTE, 5)));
    const ids = claims.flat().map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(20);
  });

  it('raises each start-timeout once when both instances scan at once', async () => {
    for (let i = 0; i < 5; i++) await ledger.store.recordRequested(newCall(), [newSession('a'), newSession('b')]);
    const raised = fulfilled(await atOnce(4, (i) => on(i).alerts.raiseStartTimeouts(T0 + MINUTE, 30_000, 'pending')));
    expect(raised.reduce((a, b) => a + b, 0)).toBe(10);
    expect((await ledger.store.alerts.list(100)).filter((a) => a.kind === 'start-timeout')).toHaveLength(10);
  });

  it('purges each call once when both instances purge at once', async () => {
    for (let i = 0; i < 30; i++) {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('rec')]);
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'rec' }, { event: 'siprec-stopped' }));
    }
    const done = fulfilled(await atOnce(2, (i) => on(i).purgeOlderThan(T0 + MINUTE, 4, T0 + MINUTE)));
    expect(done[0]!.calls + done[1]!.calls).toBe(30);
    expect(done[0]!.sessions + done[1]!.sessions).toBe(30);
    expect(done[0]!.events + done[1]!.events).toBe(30);
    expect((await ledger.store.listSessions({ limit: 10, withTotal: true })).total).toBe(0);
  });
});
