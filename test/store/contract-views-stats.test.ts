import fc from 'fast-check';
import { deriveSession } from '../../src/domain/sessions';
import { SESSION_STATES, type IncomingEvent, type Stats } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { callback, DAY, HOUR, iso, MINUTE, newCall, newSession, T0, useLedger } from '../helpers/store-contract';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

// The status page's overview and the stats: connectorSummary, stuckRequested, getStats, countSessionsByState.
describeEachBackend('store contract: overview and stats', (backend) => {
  const ledger = useLedger(backend);

  async function record(at: number, sessions: Array<[name: string, connector: string | null]>) {
    const call = newCall({ receivedAt: at });
    await ledger.store.recordRequested(call, sessions.map(([name, connectorName]) => newSession(name, { connectorName })));
    return call.callSid;
  }
  const event = (callSid: string, siprecName: string, over: Partial<IncomingEvent> = {}) =>
    ledger.store.applyEvent(callback({ callSid, siprecName, siprecSid: over.siprecSid }, over));

  describe('connectorSummary', () => {
    it('gives each connector with open sessions or an error in the last day: open count, failures in the last hour, the last error', async () => {
      const now = T0 + 2 * HOUR;
      const A = await record(T0, [['gridspace', 'Gridspace_1'], ['compliance', 'Compliance_SRS']]);
      const B = await record(T0 + MINUTE, [['gx', 'GridspaceX1']]);
      const C = await record(T0 + 2 * MINUTE, [['Gridspace_1', 'Gridspace_1']]);
      await event(A, 'compliance', { event: 'siprec-error', receivedAt: T0 + 10 * MINUTE, errorCode: '64101', errorMessage: 'older' });
      await event(A, 'gridspace', { receivedAt: now - 5 * MINUTE });
      await event(C, 'Gridspace_1', { event: 'siprec-error', receivedAt: now - 2 * MINUTE, errorCode: '64102', errorMessage: 'newer' });
      await event(B, 'gx', { event: 'siprec-error', receivedAt: now - 30 * HOUR, errorCode: '64103', errorMessage: 'two days ago' });
      // GridspaceX1 is left out: its one session failed more than a day before, and none is open.
      expect(await ledger.store.connectorSummary(now)).toEqual([
        { connectorName: 'Compliance_SRS', open: 0, failedLastHour: 0, lastError: { callSid: A, name: 'compliance', errorCode: '64101', errorMessage: 'older', at: iso(T0 + 10 * MINUTE) } },
        { connectorName: 'Gridspace_1', open: 1, failedLastHour: 1, lastError: { callSid: C, name: 'Gridspace_1', errorCode: '64102', errorMessage: 'newer', at: iso(now - 2 * MINUTE) } },
      ]);
    });

    it('counts every error of the last hour, names the newest, and lists sessions without a connector last', async () => {
      const now = T0 + HOUR;
      const calls = await Promise.all([0, 1, 2].map(() => record(T0, [['rec', 'Zeta']])));
      await event(calls[0]!, 'rec', { event: 'siprec-error', receivedAt: now - 30 * MINUTE, errorCode: '1' });
      await event(calls[1]!, 'rec', { event: 'siprec-error', receivedAt: now - 10 * MINUTE, errorCode: '2' });
      await event(calls[2]!, 'rec', { event: 'siprec-error', receivedAt: now - 20 * MINUTE, errorCode: '3' });
      const external = newCallSid();
      await ledger.store.applyEvent(callback({ callSid: external, siprecName: 'external' }, { receivedAt: now - MINUTE }));
      await record(T0, [['alpha', 'Alpha']]);
      expect(await ledger.store.connectorSummary(now)).toEqual([
        { connectorName: 'Alpha', open: 1, failedLastHour: 0, lastError: null },
        { connectorName: 'Zeta', open: 0, failedLastHour: 3, lastError: expect.objectContaining({ callSid: calls[1], errorCode: '2', at: iso(now - 10 * MINUTE) }) },
        { connectorName: null, open: 1, failedLastHour: 0, lastError: null },
      ]);
    });

    it('gives none for an empty ledger', async () => {
      expect(await ledger.store.connectorSummary(T0)).toEqual([]);
    });
  });

  describe('stuckRequested', () => {
    it('counts the sessions still requested since before the cutoff and names the oldest', async () => {
      const A = await record(T0, [['gridspace', 'Gridspace_1'], ['compliance', 'Compliance_SRS']]);
      await record(T0 + MINUTE, [['gx', 'GridspaceX1']]);
      const C = await record(T0 + 2 * MINUTE, [['late', 'Late']]);
      await event(C, 'late');
      // Asked to stop but never requested: nothing was ever waited for.
      await ledger.store.markStopRequested(newCall(), ['external'], T0);
      expect(await ledger.store.stuckRequested(T0 + MINUTE)).toEqual({
        count: 2,
        oldest: { callSid: A, name: 'gridspace', connectorName: 'Gridspace_1', requestedAt: iso(T0) },
      });
      expect((await ledger.store.stuckRequested(T0 + MINUTE + 1)).count).toBe(3);
      expect((await ledger.store.stuckRequested(T0 + HOUR)).count).toBe(3);
      expect(await ledger.store.stuckRequested(T0)).toEqual({ count: 0, oldest: null });
    });

    it('leaves out a session once a callback started, failed or stopped it', async () => {
      const A = await record(T0, [['a', 'C'], ['b', 'C'], ['c', 'C']]);
      await event(A, 'a', { event: 'siprec-started' });
      await event(A, 'b', { event: 'siprec-error' });
      await event(A, 'c', { event: 'siprec-stopped' });
      expect(await ledger.store.stuckRequested(T0 + HOUR)).toEqual({ count: 0, oldest: null });
    });
  });

  describe('getStats', () => {
    it('counts sessions by state, events in the last hour and day, and lists the latest errors', async () => {
      const A = await record(T0, [['gridspace', 'Gridspace_1'], ['compliance', 'Compliance_SRS']]);
      const B = await record(T0, [['Gridspace_1', 'Gridspace_1']]);
      await event(A, 'gridspace', { receivedAt: T0 - 10 * MINUTE });
      await event(A, 'compliance', { event: 'siprec-error', receivedAt: T0 - 5 * MINUTE, errorCode: '32101', errorMessage: 'connector unreachable' });
      const sid = newSiprecSid();
      await event(B, 'Gridspace_1', { siprecSid: sid, receivedAt: T0 - 3 * HOUR });
      await event(B, 'Gridspace_1', { siprecSid: sid, event: 'siprec-stopped', receivedAt: T0 - 2 * HOUR });
      await event(B, 'Gridspace_1', { siprecSid: sid, timestampRaw: 'two days ago', occurredAt: null, receivedAt: T0 - 48 * HOUR });
      // A repeat counts once.
      await event(B, 'Gridspace_1', { siprecSid: sid, event: 'siprec-stopped', receivedAt: T0 - 2 * HOUR });
      await record(T0, [['x', 'X']]);

      expect(await ledger.store.getStats(T0)).toEqual({
        sessionsByState: { requested: 1, active: 1, failed: 1, stopped: 1 },
        eventsLastHour: 2,
        eventsLastDay: 4,
        startedLastHour: 1,
        failedLastHour: 1,
        latestErrors: [{ callSid: A, name: 'compliance', connectorName: 'Compliance_SRS', errorCode: '32101', errorMessage: 'connector unreachable', at: iso(T0 - 5 * MINUTE) }],
      });
      expect(await ledger.store.countSessionsByState()).toEqual({ requested: 1, active: 1, failed: 1, stopped: 1 });
    });

    it('lists the five newest errors, newest first', async () => {
      for (let i = 0; i < 7; i++) {
        const callSid = await record(T0, [['rec', 'C']]);
        await event(callSid, 'rec', { event: 'siprec-error', receivedAt: T0 + ((i * 3) % 7) * MINUTE, errorCode: String(i) });
      }
      const { latestErrors } = await ledger.store.getStats(T0 + HOUR);
      expect(latestErrors.map((e) => e.at)).toEqual([6, 5, 4, 3, 2].map((m) => iso(T0 + m * MINUTE)));
    });

    it('starts at zero on an empty ledger, and drops what a purge deletes', async () => {
      const zero = { requested: 0, active: 0, failed: 0, stopped: 0 };
      expect(await ledger.store.getStats(T0)).toEqual({ sessionsByState: zero, eventsLastHour: 0, eventsLastDay: 0, startedLastHour: 0, failedLastHour: 0, latestErrors: [] });
      const callSid = await record(T0 - 2 * DAY, [['rec', 'C']]);
      const siprecSid = newSiprecSid();
      await event(callSid, 'rec', { siprecSid, event: 'siprec-error', receivedAt: T0 - 10 * MINUTE });
      await event(callSid, 'rec', { siprecSid, event: 'siprec-stopped', receivedAt: T0 - 10 * MINUTE });
      expect(await ledger.store.countSessionsByState()).toEqual({ ...zero, stopped: 1 });
      await ledger.store.purgeOlderThan(T0, 500, T0);
      expect(await ledger.store.getStats(T0)).toEqual({ sessionsByState: zero, eventsLastHour: 0, eventsLastDay: 0, startedLastHour: 0, failedLastHour: 0, latestErrors: [] });
    });

    it('always equals what the events stored give, after any mix of requests, events and repeats (property)', async () => {
      const now = T0; // on a minute: "the last hour" is the same read by whole minutes or to the millisecond
      const counts = (s: Stats) => ({ ...s.sessionsByState, hour: s.eventsLastHour, day: s.eventsLastDay, startedLastHour: s.startedLastHour, failedLastHour: s.failedLastHour });
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              kind: fc.constantFrom('siprec-started', 'siprec-stopped', 'siprec-error', 'siprec-odd'),
              minutesAgo: fc.integer({ min: 0, max: 3000 }),
              session: fc.integer({ min: 0, max: 4 }),
            }),
            { maxLength: 20 },
          ),
          fc.integer({ min: 0, max: 5 }),
          async (events, requestedCount) => {
            const before = counts(await ledger.store.getStats(now));
            const sessions = Array.from({ length: 5 }, () => ({ callSid: newCallSid(), siprecSid: newSiprecSid() }));
            for (const s of sessions.slice(0, requestedCount)) await ledger.store.recordRequested(newCall({ callSid: s.callSid, receivedAt: now - 4000 * MINUTE }), [newSession('rec')]);
            const stored = new Map<string, IncomingEvent>();
            for (const e of [...events, ...events.slice(0, 3)]) {
              const s = sessions[e.session]!;
              const at = now - e.minutesAgo * MINUTE;
              const cb = callback({ ...s, siprecName: 'rec' }, { event: e.kind, timestampRaw: String(e.minutesAgo), occurredAt: at, receivedAt: at });
              await ledger.store.applyEvent(cb);
              if (!stored.has(`${s.siprecSid}|${e.kind}|${e.minutesAgo}`)) stored.set(`${s.siprecSid}|${e.kind}|${e.minutesAgo}`, cb);
            }
            const expected = { ...before };
            sessions.forEach((s, i) => {
              const own = [...stored.values()].filter((e) => e.siprecSid === s.siprecSid);
              if (own.length > 0 || i < requestedCount) expected[deriveSession(own).state] += 1;
            });
            for (const e of stored.values()) {
              const inHour = e.receivedAt >= now - HOUR;
              expected.hour += Number(inHour);
              expected.day += Number(e.receivedAt >= now - DAY);
              expected.startedLastHour += Number(inHour && e.event === 'siprec-started');
              expected.failedLastHour += Number(inHour && e.event === 'siprec-error');
            }
            const after = await ledger.store.getStats(now);
            expect(counts(after)).toEqual(expected);
            expect(await ledger.store.countSessionsByState()).toEqual(after.sessionsByState);
            expect(Object.keys(after.sessionsByState).sort()).toEqual([...SESSION_STATES].sort());
          },
        ),
        { numRuns: 30 },
      );
    });
  });
});
