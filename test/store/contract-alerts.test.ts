import { START_TIMEOUT_MARGIN_MS } from '../../src/alerts/rules';
import type { AlertView } from '../../src/alerts/types';
import { describeEachBackend } from '../helpers/backends';
import { callback, expectUnavailable, HOUR, iso, MINUTE, newCall, newSession, POLICY, T0, useLedger, WRITE_TIMEOUT_MS } from '../helpers/store-contract';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const TIMEOUT_MS = 30_000;

// Alerts the ledger raises itself: siprec-error and error-burst in the write that stores the error
// event, start-timeout from a scan. Delivery bookkeeping is in contract-outbox.
describeEachBackend('store contract: alerts raised by the ledger', (backend) => {
  const ledger = useLedger(backend);
  const alerts = async (kind?: AlertView['kind']) => (await ledger.store.alerts.list(500)).filter((a) => kind === undefined || a.kind === kind);

  async function answered(connectorName = 'Compliance_SRS') {
    const call = newCall();
    await ledger.store.recordRequested(call, [newSession('compliance', { connectorName })]);
    return call.callSid;
  }
  const error = (callSid: string, at: number, over: { siprecSid?: string; errorCode?: string | null; errorMessage?: string | null; siprecName?: string } = {}) =>
    callback({ callSid, siprecSid: over.siprecSid, siprecName: over.siprecName ?? 'compliance' }, { event: 'siprec-error', receivedAt: at, occurredAt: at, errorCode: over.errorCode ?? null, errorMessage: over.errorMessage ?? null });

  describe('siprec-error', () => {
    it('is raised by the error event it reports, with its fields, waiting for its first attempt', async () => {
      const callSid = await answered();
      await ledger.store.applyEvent(error(callSid, T0 + 5, { errorCode: '64101', errorMessage: 'SRS <down> & out' }), POLICY);
      expect(await alerts()).toEqual([
        {
          id: expect.any(String),
          kind: 'siprec-error',
          severity: 'error',
          message: `SIPREC session "compliance" on call ${callSid} (connector Compliance_SRS) failed: 64101 SRS <down> & out`,
          callSid,
          sessionName: 'compliance',
          connectorName: 'Compliance_SRS',
          errorCode: '64101',
          errorMessage: 'SRS <down> & out',
          at: iso(T0 + 5),
          state: 'pending',
          attempts: 0,
          lastError: null,
          nextAttemptAt: iso(T0 + 5),
          deliveredAt: null,
          held: false,
        },
      ]);
    });

    it('is raised once per session, however many errors and repeats it has', async () => {
      const callSid = await answered();
      const siprecSid = newSiprecSid();
      await ledger.store.applyEvent(error(callSid, T0, { siprecSid, errorCode: '64101' }), POLICY);
      await ledger.store.applyEvent(error(callSid, T0, { siprecSid, errorCode: '64101' }), POLICY);
      await ledger.store.applyEvent(error(callSid, T0 + 1_000, { siprecSid, errorCode: '64102' }), POLICY);
      expect(await alerts()).toEqual([expect.objectContaining({ kind: 'siprec-error', errorCode: '64101', at: iso(T0) })]);
    });

    it('is recorded as not_configured, never due, when there is nowhere to send it', async () => {
      await ledger.store.applyEvent(error(await answered(), T0), { ...POLICY, initialState: 'not_configured' });
      expect(await alerts()).toEqual([expect.objectContaining({ kind: 'siprec-error', state: 'not_configured', nextAttemptAt: null })]);
      expect(await ledger.store.alerts.claimDue(T0 + HOUR, MINUTE, 10)).toEqual([]);
      expect(await ledger.store.alerts.nextDueAt()).toBeNull();
    });

    it('is not raised without a policy, nor for events other than siprec-error', async () => {
      const callSid = await answered();
      await ledger.store.applyEvent(error(callSid, T0));
      await ledger.store.applyEvent(callback({ callSid, siprecName: 'other' }, { event: 'siprec-started' }), POLICY);
      await ledger.store.applyEvent(callback({ callSid, siprecName: 'third' }, { event: 'siprec-stopped' }), POLICY);
      expect(await alerts()).toEqual([]);
    });

    it('names a session the ledger did not know, and without a connector raises no burst', async () => {
      for (let i = 0; i < 8; i++) await ledger.store.applyEvent(error(newCallSid(), T0 + i, { siprecName: 'external' }), POLICY);
      const raised = await alerts();
      expect(raised).toHaveLength(8);
      expect(raised.every((a) => a.kind === 'siprec-error' && a.connectorName === null && a.sessionName === 'external')).toBe(true);
    });
  });

  describe('error-burst', () => {
    const errorsOn = async (connectorName: string, n: number, from: number) => {
      for (let i = 0; i < n; i++) await ledger.store.applyEvent(error(await answered(connectorName), from + i * 1_000), POLICY);
    };

    it('is raised once when one connector has more errors within the window than allowed, not once per error', async () => {
      await errorsOn('Gridspace_1', 5, T0);
      await errorsOn('Compliance_SRS', 5, T0 + 100); // another connector: its errors do not add up
      expect(await alerts('error-burst')).toEqual([]);
      await errorsOn('Gridspace_1', 3, T0 + 5_000);
      expect(await alerts('error-burst')).toEqual([
        expect.objectContaining({
          kind: 'error-burst',
          severity: 'critical',
          connectorName: 'Gridspace_1',
          callSid: null,
          sessionName: null,
          message: '6 SIPREC errors on connector Gridspace_1 within 5 min',
          at: iso(T0 + 5_000),
          state: 'pending',
        }),
      ]);
      expect(await alerts('siprec-error')).toHaveLength(13);
    });

    it('counts only the errors within the window, and is raised again for a burst in a later window', async () => {
      await errorsOn('Gridspace_1', 6, T0);
      await errorsOn('Gridspace_1', 5, T0 + POLICY.burst.windowMs + 5_000);
      expect(await alerts('error-burst')).toHaveLength(1);
      await errorsOn('Gridspace_1', 1, T0 + POLICY.burst.windowMs + 10_000);
      expect((await alerts('error-burst')).map((a) => a.at)).toEqual([iso(T0 + POLICY.burst.windowMs + 10_000), iso(T0 + 5_000)]);
    });
  });

  describe('raiseStartTimeouts', () => {
    it('raises one for each session still requested the timeout after it was requested, never for one that started, and never twice', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('gridspace'), newSession('compliance', { connectorName: 'Compliance_SRS' })]);
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'gridspace' }, { receivedAt: T0 + 1_000 }));
      expect(await ledger.store.alerts.raiseStartTimeouts(T0 + TIMEOUT_MS - 1, TIMEOUT_MS, 'pending')).toBe(0);
      expect(await ledger.store.alerts.raiseStartTimeouts(T0 + TIMEOUT_MS, TIMEOUT_MS, 'pending')).toBe(1);
      expect(await ledger.store.alerts.raiseStartTimeouts(T0 + TIMEOUT_MS + MINUTE, TIMEOUT_MS, 'pending')).toBe(0);
      expect(await alerts()).toEqual([
        expect.objectContaining({
          kind: 'start-timeout',
          severity: 'error',
          message: `SIPREC session "compliance" on call ${call.callSid} (connector Compliance_SRS) has not started 30 s after the call was answered; check PUBLIC_BASE_URL and the connector`,
          callSid: call.callSid,
          sessionName: 'compliance',
          connectorName: 'Compliance_SRS',
          errorCode: null,
          errorMessage: null,
          at: iso(T0 + TIMEOUT_MS),
          state: 'pending',
          nextAttemptAt: iso(T0 + TIMEOUT_MS),
        }),
      ]);
    });

    it('raises none for a session that failed or stopped, or that was never requested', async () => {
      const call = newCall();
      await ledger.store.recordRequested(call, [newSession('a'), newSession('b')]);
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'a' }, { event: 'siprec-error' }));
      await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'b' }, { event: 'siprec-stopped' }));
      await ledger.store.markStopRequested(newCall(), ['external'], T0);
      expect(await ledger.store.alerts.raiseStartTimeouts(T0 + HOUR, TIMEOUT_MS, 'pending')).toBe(0);
      expect(await alerts()).toEqual([]);
    });

    it('still raises them a day after the timeout passed (the server was down), and not after that', async () => {
      const late = newCall();
      await ledger.store.recordRequested(late, [newSession('a'), newSession('b')]);
      await ledger.store.recordRequested(newCall({ receivedAt: T0 - 1 }), [newSession('c')]);
      expect(await ledger.store.alerts.raiseStartTimeouts(T0 + TIMEOUT_MS + START_TIMEOUT_MARGIN_MS, TIMEOUT_MS, 'not_configured')).toBe(2);
      expect((await alerts()).map((a) => [a.callSid, a.state])).toEqual([
        [late.callSid, 'not_configured'],
        [late.callSid, 'not_configured'],
      ]);
    });

    it('raises for a session requested through the REST API that never started', async () => {
      const reservation = await ledger.store.reserveStart(newCall(), newSession('rest'), 2);
      expect(reservation.reserved).toBe(true);
      expect(await ledger.store.alerts.raiseStartTimeouts(T0 + TIMEOUT_MS, TIMEOUT_MS, 'pending')).toBe(1);
    });
  });

  describe('in the write of the error event', () => {
    it('is never without its event, nor the event without it: a refused write stores neither, its retry both, once', async () => {
      const callSid = await answered();
      const cb = error(callSid, T0, { errorCode: '64101' });
      const impatient = await ledger.openAnother({ writeTimeoutMs: WRITE_TIMEOUT_MS });
      const release = await ledger.holdWrites();
      await expectUnavailable(() => impatient.applyEvent(cb, POLICY));
      await release();
      expect((await ledger.store.getCall(callSid))!.sessions[0]!.events).toEqual([]);
      expect(await alerts()).toEqual([]);
      expect(await ledger.store.applyEvent(cb, POLICY)).toBe('stored');
      expect(await ledger.store.applyEvent(cb, POLICY)).toBe('duplicate');
      expect((await ledger.store.getCall(callSid))!.sessions[0]!.events).toHaveLength(1);
      expect(await alerts()).toEqual([expect.objectContaining({ kind: 'siprec-error', callSid })]);
    });
  });
});
