import type Database from 'better-sqlite3';
import { isFullScan, recordExecutions } from '../../bench/query-plans';
import { createSqliteStore } from '../../src/store/sqlite';
import { openDatabase } from '../../src/store/sqlite/open';
import type { Store } from '../../src/store/store';
import { tempDir, type TempDir } from '../helpers/env';

const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';
const DAY_MS = 86_400_000;

// The alert sender and the start-timeout scan run every second or so on every instance, beside the
// webhooks: each of their reads must search an index, however long the ledger's history.
describe('query plans of the alert sender and the start-timeout scan', () => {
  let dir: TempDir;
  let db: Database.Database;
  let store: Store;
  let recorder: ReturnType<typeof recordExecutions>;
  beforeEach(() => {
    dir = tempDir();
    db = openDatabase(dir.file('ledger.sqlite'));
    recorder = recordExecutions(db);
    store = createSqliteStore(db);
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  const plansOfSelects = () => {
    const selects = [...new Map(recorder.executed.filter((e) => /^\s*SELECT/i.test(e.sql)).map((e) => [e.sql, e])).values()];
    return selects.map((s) => ({ sql: s.sql.replace(/\s+/g, ' ').trim(), plan: recorder.explain(s.sql, s.args) }));
  };

  it.each([
    ['the longest timeout', DAY_MS],
    ['the default timeout', 30_000],
  ])('searches an index for every read, with %s', async (_label, timeoutMs) => {
    const now = Date.now();
    const call = (n: number, at: number) => ({ callSid: `CA${String(n).padStart(32, '0')}`, accountSid: ACCOUNT, from: null, to: null, direction: null, receivedAt: at });
    const sessions = [{ name: 'rec', connectorName: 'C', track: null, parameters: [] }];
    await store.recordRequested(call(1, now - timeoutMs - 1_000), sessions);
    await store.recordRequested(call(2, now - 3 * DAY_MS), sessions);

    expect(await store.alerts.raiseStartTimeouts(now, timeoutMs, 'pending')).toBe(1);
    expect(await store.alerts.nextDueAt()).toBe(now);
    expect(await store.alerts.claimDue(now, 15_000, 10)).toHaveLength(1);

    const plans = plansOfSelects();
    // The store's boot read of the last ledger-write-failed, the scan, and the sender's reads.
    expect(plans.map((p) => p.sql)).toEqual(
      expect.arrayContaining([
        expect.stringContaining("WHERE kind = 'ledger-write-failed'"),
        expect.stringContaining("WHERE s.state = 'requested'"),
        expect.stringContaining('SELECT min(next_attempt_at)'),
        expect.stringContaining('SELECT 1 FROM alert_outbox'),
      ]),
    );
    for (const { sql, plan } of plans) {
      expect({ sql, fullScans: plan.filter(isFullScan) }).toEqual({ sql, fullScans: [] });
      expect({ sql, indexed: plan.some((line) => /USING (COVERING )?INDEX|USING (INTEGER )?PRIMARY KEY/.test(line)) }).toEqual({ sql, indexed: true });
    }
    const scan = plans.find((p) => p.sql.includes("WHERE s.state = 'requested'"))!;
    expect(scan.plan[0]).toMatch(/^SEARCH s USING (COVERING )?INDEX siprec_sessions_state_created \(state=\? AND created_at>\?\)/);
  });
});
