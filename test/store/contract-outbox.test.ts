import { LEDGER_ALERT_WINDOW_MS } from '../../src/alerts/ledger-window';
import { ledgerWriteFailedAlert } from '../../src/alerts/messages';
import type { DeliveryStatus } from '../../src/alerts/types';
import { describeEachBackend } from '../helpers/backends';
import { callback, expectUnavailable, HOUR, iso, MINUTE, POLICY, T0, useLedger, WRITE_TIMEOUT_MS } from '../helpers/store-contract';
import { newCallSid } from '../helpers/twilio-requests';

const LEASE = MINUTE;
const failed = (at: number, callSid = newCallSid()) => ledgerWriteFailedAlert({ callSid, error: new Error('disk I/O error'), at });
const status = (over: Partial<DeliveryStatus> & Pick<DeliveryStatus, 'state'>): DeliveryStatus => ({ attempts: 1, nextAttemptAt: null, lastError: null, deliveredAt: null, ...over });

// The outbox: alerts waiting for delivery in the table (claimed under a lease, their attempts
// recorded) and held in memory while the ledger cannot write, then moved to the table.
describeEachBackend('store contract: the alert outbox', (backend) => {
  const ledger = useLedger(backend);
  const outbox = () => ledger.store.alerts;

  /** `n` siprec-error alerts, due a second apart from T0. */
  async function raised(n: number): Promise<string[]> {
    const calls: string[] = [];
    for (let i = 0; i < n; i++) {
      const callSid = newCallSid();
      await ledger.store.applyEvent(callback({ callSid }, { event: 'siprec-error', receivedAt: T0 + i * 1_000 }), POLICY);
      calls.push(callSid);
    }
    return calls;
  }

  describe('claimDue', () => {
    it('hands out due alerts, earliest first, up to the limit, with what sending them needs', async () => {
      const calls = await raised(3);
      expect(await outbox().claimDue(T0 - 1, LEASE, 10)).toEqual([]);
      const claimed = await outbox().claimDue(T0 + 1_000, LEASE, 10);
      expect(claimed.map((a) => a.callSid)).toEqual(calls.slice(0, 2));
      expect(claimed[0]).toEqual({
        id: expect.any(String),
        kind: 'siprec-error',
        dedupeKey: `siprec-error:${calls[0]}:gridspace`,
        severity: 'error',
        message: expect.stringContaining(`on call ${calls[0]}`),
        callSid: calls[0],
        sessionName: 'gridspace',
        connectorName: null,
        errorCode: null,
        errorMessage: null,
        at: T0,
        state: 'pending',
        attempts: 0,
        // Whether it reads as due or as leased, the claim's lease is the store's own business.
        nextAttemptAt: expect.any(Number),
        lastError: null,
        deliveredAt: null,
      });
      expect((await outbox().claimDue(T0 + 5_000, LEASE, 1)).map((a) => a.callSid)).toEqual([calls[2]]);
    });

    it('gives a second claim within the lease nothing, and the alert again once the lease has run out', async () => {
      await raised(1);
      expect(await outbox().claimDue(T0, LEASE, 10)).toHaveLength(1);
      expect(await outbox().claimDue(T0 + LEASE - 1, LEASE, 10)).toEqual([]);
      expect(await outbox().nextDueAt()).toBe(T0 + LEASE);
      const again = await outbox().claimDue(T0 + LEASE, LEASE, 10);
      expect(again).toEqual([expect.objectContaining({ state: 'pending', attempts: 0 })]);
    });

    it('gives out nothing for an empty outbox', async () => {
      expect(await outbox().claimDue(T0, LEASE, 10)).toEqual([]);
      expect(await outbox().nextDueAt()).toBeNull();
    });
  });

  describe('recordAttempt', () => {
    it('keeps a failed attempt’s retry for its time, then a delivery for good', async () => {
      await raised(1);
      const [alert] = await outbox().claimDue(T0, LEASE, 10);
      await outbox().recordAttempt(alert!.id, status({ state: 'retrying', nextAttemptAt: T0 + 2_000, lastError: 'receiver answered 500' }), T0 + 1);
      expect(await outbox().list(10)).toEqual([
        expect.objectContaining({ id: alert!.id, state: 'retrying', attempts: 1, lastError: 'receiver answered 500', nextAttemptAt: iso(T0 + 2_000), deliveredAt: null }),
      ]);
      expect(await outbox().nextDueAt()).toBe(T0 + 2_000);
      expect(await outbox().claimDue(T0 + 1_999, LEASE, 10)).toEqual([]);
      const [retry] = await outbox().claimDue(T0 + 2_000, LEASE, 10);
      expect(retry).toMatchObject({ id: alert!.id, state: 'retrying', attempts: 1, lastError: 'receiver answered 500' });

      await outbox().recordAttempt(alert!.id, status({ state: 'delivered', attempts: 2, deliveredAt: T0 + 2_100 }), T0 + 2_100);
      expect(await outbox().list(10)).toEqual([expect.objectContaining({ state: 'delivered', attempts: 2, lastError: null, nextAttemptAt: null, deliveredAt: iso(T0 + 2_100) })]);
      expect(await outbox().claimDue(T0 + HOUR, LEASE, 10)).toEqual([]);
      expect(await outbox().nextDueAt()).toBeNull();
    });

    it('never hands out an alert given up on', async () => {
      await raised(1);
      const [alert] = await outbox().claimDue(T0, LEASE, 10);
      await outbox().recordAttempt(alert!.id, status({ state: 'gave_up', attempts: 10, lastError: 'receiver answered 503' }), T0);
      expect(await outbox().claimDue(T0 + HOUR, LEASE, 10)).toEqual([]);
      expect((await outbox().list(10))[0]).toMatchObject({ state: 'gave_up', attempts: 10, nextAttemptAt: null });
    });
  });

  describe('list', () => {
    it('shows the newest first, up to the limit, held alerts among them', async () => {
      await raised(3);
      expect(outbox().hold(failed(T0 + 1_500), 'pending')).toBe(true);
      const listed = await outbox().list(10);
      expect(listed.map((a) => [a.kind, a.at, a.held])).toEqual([
        ['siprec-error', iso(T0 + 2_000), false],
        ['ledger-write-failed', iso(T0 + 1_500), true],
        ['siprec-error', iso(T0 + 1_000), false],
        ['siprec-error', iso(T0), false],
      ]);
      expect((await outbox().list(2)).map((a) => a.at)).toEqual([iso(T0 + 2_000), iso(T0 + 1_500)]);
    });
  });

  describe('held alerts', () => {
    it('holds one ledger-write-failed per window, due from when it was raised', async () => {
      const first = failed(T0);
      expect(outbox().hold(first, 'pending')).toBe(true);
      expect(outbox().hold(failed(T0 + LEDGER_ALERT_WINDOW_MS - 1), 'pending')).toBe(false);
      const [held] = await outbox().list(10);
      expect(held).toMatchObject({ id: expect.stringMatching(/^held:/), kind: 'ledger-write-failed', callSid: first.callSid, state: 'pending', held: true, nextAttemptAt: iso(T0) });
      expect(outbox().dueHeld(T0 - 1)).toEqual([]);
      expect(outbox().dueHeld(T0)).toEqual([expect.objectContaining({ id: held!.id, dedupeKey: first.dedupeKey })]);
      expect(await outbox().nextDueAt()).toBe(T0);
      expect(await outbox().nextDueAt(new Set([held!.id]))).toBeNull();
      expect(outbox().hold(failed(T0 + LEDGER_ALERT_WINDOW_MS), 'pending')).toBe(true);
    });

    it('keeps the outcome of an attempt on a held alert, and moves it to the table with it', async () => {
      outbox().hold(failed(T0), 'pending');
      const [held] = outbox().dueHeld(T0);
      outbox().updateHeld(held!.id, status({ state: 'delivered', deliveredAt: T0 + 10 }));
      expect(outbox().dueHeld(T0 + HOUR)).toEqual([]);
      expect(await outbox().flushHeld(T0 + 20)).toBe(1);
      expect(await outbox().flushHeld(T0 + 30)).toBe(0);
      expect(await outbox().list(10)).toEqual([
        expect.objectContaining({ kind: 'ledger-write-failed', state: 'delivered', attempts: 1, deliveredAt: iso(T0 + 10), held: false, id: expect.not.stringMatching(/^held:/) }),
      ]);
      expect(await outbox().claimDue(T0 + HOUR, LEASE, 10)).toEqual([]);
    });

    it('moves a held alert still waiting to the table, where it is claimed like any other', async () => {
      outbox().hold(failed(T0), 'pending');
      const [held] = outbox().dueHeld(T0);
      outbox().updateHeld(held!.id, status({ state: 'retrying', nextAttemptAt: T0 + 1_000, lastError: 'no answer within 200 ms' }));
      await outbox().flushHeld(T0 + 1);
      expect(outbox().dueHeld(T0 + HOUR)).toEqual([]);
      expect(await outbox().nextDueAt()).toBe(T0 + 1_000);
      expect(await outbox().claimDue(T0 + 1_000, LEASE, 10)).toEqual([expect.objectContaining({ kind: 'ledger-write-failed', state: 'retrying', attempts: 1, lastError: 'no answer within 200 ms' })]);
    });

    it('leaves in memory the held alerts whose attempt is in flight', async () => {
      outbox().hold(failed(T0), 'pending');
      const [held] = outbox().dueHeld(T0);
      expect(await outbox().flushHeld(T0, new Set([held!.id]))).toBe(0);
      expect(await outbox().list(10)).toEqual([expect.objectContaining({ id: held!.id, held: true })]);
      expect(await outbox().flushHeld(T0)).toBe(1);
      expect(await outbox().list(10)).toEqual([expect.objectContaining({ held: false })]);
    });

    it('stay held while the ledger cannot write: the move fails as unavailable and is done once it writes again', async () => {
      const impatient = (await ledger.openAnother({ writeTimeoutMs: WRITE_TIMEOUT_MS })).alerts;
      impatient.hold(failed(T0), 'pending');
      const release = await ledger.holdWrites();
      await expectUnavailable(() => impatient.flushHeld(T0));
      expect(await impatient.list(10)).toEqual([expect.objectContaining({ held: true })]);
      await release();
      expect(await impatient.flushHeld(T0)).toBe(1);
      expect(await impatient.list(10)).toEqual([expect.objectContaining({ held: false })]);
    });

    it('keep their window across a restart: a new store on the database sees the last one the table holds', async () => {
      const first = failed(T0);
      outbox().hold(first, 'pending');
      await outbox().flushHeld(T0);
      const restarted = await ledger.openAnother();
      expect(restarted.alerts.hold(failed(T0 + LEDGER_ALERT_WINDOW_MS - 1), 'pending')).toBe(false);
      expect(restarted.alerts.hold(failed(T0 + LEDGER_ALERT_WINDOW_MS), 'pending')).toBe(true);
    });
  });
});
