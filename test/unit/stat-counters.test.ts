import fc from 'fast-check';
import { createSqliteStore } from '../../src/store/sqlite';
import { openDatabase } from '../../src/store/sqlite/open';
import type { Store } from '../../src/store/store';
import type Database from 'better-sqlite3';
import { TEST_ACCOUNT_SID, tempDir, type TempDir } from '../helpers/env';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

/** The counters must always equal what counting the ledger itself gives. */
function counted(db: Database.Database, now: number) {
  const n = (sql: string, ...a: unknown[]) => (db.prepare(sql).get(...a) as { n: number }).n;
  const hour = Math.floor((now - 3_600_000) / 60_000) * 60_000;
  const day = Math.floor((now - 86_400_000) / 60_000) * 60_000;
  return {
    sessionsByState: Object.fromEntries(['requested', 'active', 'failed', 'stopped'].map((s) => [s, n('SELECT count(*) AS n FROM siprec_sessions WHERE state = ?', s)])),
    eventsLastHour: n('SELECT count(*) AS n FROM siprec_events WHERE received_at >= ?', hour),
    eventsLastDay: n('SELECT count(*) AS n FROM siprec_events WHERE received_at >= ?', day),
    startedLastHour: n(`SELECT count(*) AS n FROM siprec_events WHERE event = 'siprec-started' AND received_at >= ?`, hour),
    failedLastHour: n(`SELECT count(*) AS n FROM siprec_events WHERE event = 'siprec-error' AND received_at >= ?`, hour),
  };
}

describe('stat counters kept by triggers', () => {
  let dir: TempDir;
  let db: Database.Database;
  let store: Store;
  beforeEach(() => {
    dir = tempDir();
    db = openDatabase(dir.file('s.sqlite'));
    store = createSqliteStore(db);
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it('equal a full count after any mix of requests, events, repeats and purges', async () => {
    const now = Date.UTC(2026, 10, 26, 12);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            kind: fc.constantFrom('siprec-started', 'siprec-stopped', 'siprec-error', 'siprec-odd'),
            minutesAgo: fc.integer({ min: 0, max: 3000 }),
            call: fc.integer({ min: 0, max: 5 }),
          }),
          { maxLength: 30 },
        ),
        fc.boolean(),
        async (events, purge) => {
          const calls = Array.from({ length: 6 }, () => ({ callSid: newCallSid(), siprecSid: newSiprecSid() }));
          for (const c of calls.slice(0, 3)) {
            await store.recordRequested({ callSid: c.callSid, accountSid: TEST_ACCOUNT_SID, from: null, to: null, direction: null, receivedAt: now - 2_000 * 60_000 }, [
              { name: 'rec', connectorName: 'C', track: 'both_tracks', parameters: [] },
            ]);
          }
          for (const e of [...events, ...events.slice(0, 3)]) {
            const c = calls[e.call]!;
            const at = now - e.minutesAgo * 60_000;
            await store.applyEvent({ accountSid: TEST_ACCOUNT_SID, callSid: c.callSid, siprecSid: c.siprecSid, siprecName: 'rec', event: e.kind, timestampRaw: String(e.minutesAgo), occurredAt: at, receivedAt: at, errorCode: null, errorMessage: null, payload: {} });
          }
          if (purge) await store.purgeOlderThan(now - 1_000 * 60_000);
          const { latestErrors: _ignored, ...stats } = await store.getStats(now);
          expect(stats).toEqual(counted(db, now));
          expect(await store.countSessionsByState()).toEqual(stats.sessionsByState);
        },
      ),
      { numRuns: 60 },
    );
  });
});
