import type { StartReservation, Store } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { atOnce, callback, DAY, expectUnavailable, HOUR, MINUTE, newCall, newSession, POLICY, T0, useLedger, WRITE_TIMEOUT_MS } from '../helpers/store-contract';
import { ledgerWriteFailedAlert } from '../../src/alerts/messages';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

/** Everything the reads show of the ledger, to prove that a refused write left nothing behind. */
async function snapshot(store: Store) {
  const { sessions } = await store.listSessions({ limit: 500 });
  const callSids = [...new Set(sessions.map((s) => s.callSid))].sort();
  return {
    calls: await Promise.all(callSids.map((c) => store.getCall(c))),
    counts: await store.countSessionsByState(),
    alerts: (await store.alerts.list(500)).filter((a) => !a.held),
  };
}

interface WriteCase {
  /** What the ledger holds before the fault, and what the write will need. */
  prepare(store: Store): unknown;
  write(store: Store, prepared: never): Promise<unknown>;
}

/**
 * Every kind of write, each one that really has something to write (a purge with something to
 * delete, a claim with an alert due): an empty operation may be answered from a read.
 */
const WRITES: Array<[string, WriteCase]> = [
  ['recordRequested', { prepare: () => newCall(), write: (s, c: ReturnType<typeof newCall>) => s.recordRequested(c, [newSession('rec')]) }],
  ['applyEvent on a known session', { prepare: async (s) => { const c = newCall(); await s.recordRequested(c, [newSession('gridspace')]); return c.callSid; }, write: (s, callSid: string) => s.applyEvent(callback({ callSid })) }],
  ['applyEvent creating its session', { prepare: () => newCallSid(), write: (s, callSid: string) => s.applyEvent(callback({ callSid }, { event: 'siprec-error' }), POLICY) }],
  ['reserveStart', { prepare: () => newCall(), write: (s, c: ReturnType<typeof newCall>) => s.reserveStart(c, newSession('rest'), 2) }],
  ['releaseStart', { prepare: async (s) => { const r = await s.reserveStart(newCall(), newSession('rest'), 2); return (r as { reservation: StartReservation }).reservation; }, write: (s, r: StartReservation) => s.releaseStart(r) }],
  ['recordStarted', { prepare: () => newCall(), write: (s, c: ReturnType<typeof newCall>) => s.recordStarted(c, newSession('rest', { siprecSid: newSiprecSid() }), T0) }],
  ['markStopRequested', { prepare: async (s) => { const c = newCall(); await s.recordRequested(c, [newSession('rec')]); return c; }, write: (s, c: ReturnType<typeof newCall>) => s.markStopRequested(c, ['rec'], T0 + 1) }],
  ['purgeOlderThan', { prepare: async (s) => { const c = newCall({ receivedAt: T0 - 100 * DAY }); await s.recordRequested(c, [newSession('done')]); await s.applyEvent(callback({ callSid: c.callSid, siprecName: 'done' }, { event: 'siprec-stopped', receivedAt: T0 - 100 * DAY })); }, write: (s) => s.purgeOlderThan(T0 - 90 * DAY, 500, T0) }],
  ['ping', { prepare: () => undefined, write: (s) => s.ping() }],
  ['alerts.claimDue', { prepare: async (s) => { await s.applyEvent(callback({ callSid: newCallSid() }, { event: 'siprec-error' }), POLICY); }, write: (s) => s.alerts.claimDue(T0 + MINUTE, MINUTE, 10) }],
  ['alerts.recordAttempt', { prepare: async (s) => { await s.applyEvent(callback({ callSid: newCallSid() }, { event: 'siprec-error' }), POLICY); return (await s.alerts.list(1))[0]!.id; }, write: (s, id: string) => s.alerts.recordAttempt(id, { state: 'delivered', attempts: 1, nextAttemptAt: null, lastError: null, deliveredAt: T0 + 1 }, T0 + 1) }],
  ['alerts.flushHeld', { prepare: (s) => { s.alerts.hold(ledgerWriteFailedAlert({ callSid: newCallSid(), error: new Error('disk I/O error'), at: T0 }), 'pending'); }, write: (s) => s.alerts.flushHeld(T0) }],
  ['alerts.raiseStartTimeouts', { prepare: async (s) => { await s.recordRequested(newCall(), [newSession('stuck')]); }, write: (s) => s.alerts.raiseStartTimeouts(T0 + MINUTE, 30_000, 'pending') }],
];

// What the ledger does when it cannot write (a lock held elsewhere stands for a full disk, a hung
// primary, a failover): each write fails as unavailable after writeTimeoutMs and leaves nothing,
// reads go on, and the same store writes again once the fault is gone.
describeEachBackend('store contract: faults and ping', (backend) => {
  const ledger = useLedger(backend, { writeTimeoutMs: WRITE_TIMEOUT_MS });

  describe.each(WRITES)('%s while another connection holds the writes', (_name, c) => {
    it('fails as unavailable after the write timeout, leaves nothing behind, and succeeds once the fault is gone', async () => {
      const prepared = (await c.prepare(ledger.store)) as never;
      const before = await snapshot(ledger.store);
      const release = await ledger.holdWrites();
      const took = await expectUnavailable(() => c.write(ledger.store, prepared));
      expect(took).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS * 0.5);
      await release();
      // Nothing of the refused write may commit later either: an acknowledged 503 with a ghost row behind it.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await snapshot(ledger.store)).toEqual(before);
      await c.write(ledger.store, prepared);
    });
  });

  it('answers reads while the writes are held', async () => {
    const call = newCall({ route: '0:0123456789abcdef' });
    await ledger.store.recordRequested(call, [newSession('gridspace')]);
    await ledger.store.applyEvent(callback({ callSid: call.callSid }, { event: 'siprec-error', errorCode: '64101' }), POLICY);
    const release = await ledger.holdWrites();
    const started = Date.now();
    expect((await ledger.store.getCall(call.callSid))!.sessions[0]!.state).toBe('failed');
    expect((await ledger.store.listSessions({ limit: 10, withTotal: true, connectorPrefix: 'grid' })).total).toBe(1);
    expect((await ledger.store.getStats(T0 + MINUTE)).failedLastHour).toBe(1);
    expect(await ledger.store.countSessionsByState()).toEqual({ requested: 0, active: 0, failed: 1, stopped: 0 });
    expect(await ledger.store.connectorSummary(T0 + MINUTE)).toHaveLength(1);
    expect((await ledger.store.stuckRequested(T0 + HOUR)).count).toBe(0);
    expect(await ledger.store.openSessions(call.callSid)).toEqual([]);
    expect(await ledger.store.routeOf(call.callSid)).toBe('0:0123456789abcdef');
    expect(await ledger.store.alerts.list(10)).toHaveLength(1);
    expect(await ledger.store.alerts.nextDueAt()).toBe(T0);
    expect(Date.now() - started).toBeLessThan(WRITE_TIMEOUT_MS * 3);
    await release();
  });

  describe('ping', () => {
    it('answers while the database takes writes, fails as unavailable while it cannot, and answers again after', async () => {
      await expect(ledger.store.ping()).resolves.toBeUndefined();
      const release = await ledger.holdWrites();
      await expectUnavailable(() => ledger.store.ping());
      await release();
      await expect(ledger.store.ping()).resolves.toBeUndefined();
    });
  });

});

describeEachBackend('store contract: close', (backend) => {
  const ledger = useLedger(backend);

  describe('close', () => {
    it('lets every write it had accepted commit, then refuses new ones', async () => {
      const calls = Array.from({ length: 200 }, () => newCall());
      const writes = calls.map((c, i) => ledger.store.recordRequested(c, [newSession(`rec-${i % 3}`)]));
      await ledger.closeStore();
      const failed = (await Promise.allSettled(writes)).flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
      expect({ failed: failed.length, first: failed[0] }).toEqual({ failed: 0, first: undefined });
      await expect(ledger.store.recordRequested(newCall(), [newSession('late')])).rejects.toThrow();
      const after = await ledger.openAnother();
      expect((await after.listSessions({ limit: 1, withTotal: true })).total).toBe(200);
    });

    it('waits for writes that were waiting on a lock, and they commit once it is released', async () => {
      const release = await ledger.holdWrites();
      const waiting = atOnce(5, () => ledger.store.recordRequested(newCall(), [newSession('rec')]));
      setTimeout(() => void release(), 100);
      await ledger.closeStore();
      const failed = (await waiting).flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
      expect(failed).toEqual([]);
      const after = await ledger.openAnother();
      expect((await after.listSessions({ limit: 10, withTotal: true })).total).toBe(5);
    });
  });
});
