import type Database from 'better-sqlite3';
import { isFullScan, planOperatorQueries, type PlannedCase } from '../../bench/query-plans';
import { createSqliteStore } from '../../src/store/sqlite';
import { openDatabase } from '../../src/store/sqlite/open';
import { PURGEABLE_CALLS } from '../../src/store/sqlite/writes';
import { tempDir, type TempDir } from '../helpers/env';

// The operator API must stay fast on a ledger of millions of events: every query it runs has to
// search or walk an index, never read a whole table. The SQL is captured from the real store as it
// runs, so a query added or changed there is checked without being copied here.
describe('query plans of the store', () => {
  let dir: TempDir;
  let db: Database.Database;
  let cases: PlannedCase[];

  beforeAll(async () => {
    dir = tempDir();
    db = openDatabase(dir.file('ledger.sqlite'));
    cases = await planOperatorQueries(db);
  });
  afterAll(() => {
    db.close();
    dir.remove();
  });

  describe('isFullScan', () => {
    it.each([
      ['SCAN siprec_events', true],
      ['SCAN s', true],
      ['SCAN siprec_sessions USING INTEGER PRIMARY KEY', true],
      ['SCAN s USING INDEX siprec_sessions_created', false],
      ['SCAN siprec_sessions USING COVERING INDEX siprec_sessions_state_created', false],
      ['SEARCH siprec_events USING INDEX siprec_events_session (session_id=?)', false],
      ['USE TEMP B-TREE FOR ORDER BY', false],
    ])('%s → %s', (line, expected) => {
      expect(isFullScan(line)).toBe(expected);
    });
  });

  it('captures every operator API query and the ingest path', () => {
    expect(cases.map((c) => c.name)).toEqual([
      'ingest: voice webhook (recordRequested)',
      'ingest: status callback (applyEvent)',
      'GET /api/sessions: no filter',
      'GET /api/sessions: state',
      'GET /api/sessions: callSid',
      'GET /api/sessions: connectorName',
      'GET /api/sessions: every filter',
      'GET /api/sessions: cursor',
      'GET /api/sessions: state + cursor',
      'GET /api/sessions: callSid + cursor',
      'GET /api/sessions: connectorName + cursor',
      'GET /api/sessions: connectorPrefix',
      'GET /api/sessions: connectorPrefix + cursor + total',
      'GET /api/sessions: siprecSid',
      'GET /api/sessions: phone + total',
      'GET /api/sessions: since + until + total',
      'GET /api/sessions: state + since + cursor',
      'GET /api/calls/:callSid (getCall)',
      'GET /api/stats (getStats)',
      'GET /api/overview (connectorSummary, stuckRequested)',
    ]);
    // A read that ran no SELECT would mean the capture missed it, not that it is fast.
    expect(cases.filter((c) => c.name.startsWith('GET') && c.statements.length === 0).map((c) => c.name)).toEqual([]);
  });

  it('filters by cursor with an index range, not by reading from the newest row on', () => {
    const cursorCase = cases.find((c) => c.name === 'GET /api/sessions: cursor')!;
    expect(cursorCase.statements.flatMap((s) => s.plan).join('\n')).toMatch(/SEARCH \S+ USING (COVERING )?INDEX \S+ \((\w+=\? AND )*created_at<\?\)/);
  });

  it('serves a connector prefix (any case) from the NOCASE index, and a number from the From and To indexes', () => {
    const plan = (name: string) => cases.find((c) => c.name === name)!.statements.flatMap((s) => s.plan).join('\n');
    expect(plan('GET /api/sessions: connectorPrefix')).toMatch(/SEARCH s USING INDEX siprec_sessions_connector_nocase \(connector_name>\? AND connector_name<\?\)/);
    expect(plan('GET /api/sessions: phone + total')).toMatch(/USING INDEX calls_from_number \(from_number=\?\)[\s\S]*USING INDEX calls_to_number \(to_number=\?\)/);
  });

  it('uses an index for every SELECT of every query: no full table scan', () => {
    const scans = cases.flatMap((c) => c.statements.filter((s) => s.fullScans.length > 0).map((s) => ({ case: c.name, sql: s.sql, plan: s.plan })));
    expect(scans).toEqual([]);
    for (const c of cases) {
      for (const s of c.statements) expect(s.plan.some((line) => /USING (COVERING )?INDEX|USING (INTEGER )?PRIMARY KEY/.test(line))).toBe(true);
    }
  });
});

// The retention purge runs inside the server, beside live callbacks: each batch must find its calls
// through an index, in order, or it would hold the write lock for a scan of the whole ledger.
describe('query plans of the retention purge', () => {
  let dir: TempDir;
  let db: Database.Database;
  beforeEach(() => {
    dir = tempDir();
    db = openDatabase(dir.file('ledger.sqlite'));
  });
  afterEach(() => {
    db.close();
    dir.remove();
  });

  it('walks calls in last-activity order on an index, and reads each call’s rows by index', async () => {
    const executed: Array<{ sql: string; args: unknown[] }> = [];
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      const stmt = prepare(sql);
      for (const method of ['get', 'all'] as const) {
        const original = stmt[method].bind<(...args: unknown[]) => unknown>(stmt);
        (stmt as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => (executed.push({ sql, args }), original(...args));
      }
      return stmt;
    }) as typeof db.prepare;
    const store = createSqliteStore(db);
    const now = Date.now();
    const session = [{ name: 'rec', connectorName: 'C', track: null, parameters: [] }];
    const account = 'AC0123456789abcdef0123456789abcdef';
    await store.recordRequested({ callSid: 'CA00000000000000000000000000000001', accountSid: account, from: null, to: null, direction: null, receivedAt: now - 3 * 86_400_000 }, session);
    await store.recordRequested({ callSid: 'CA00000000000000000000000000000002', accountSid: account, from: null, to: null, direction: null, receivedAt: now }, session);
    expect((await store.purgeOlderThan(now - 86_400_000, 500, now)).calls).toBe(1);

    const selects = [...new Map(executed.filter((e) => /^\s*SELECT/i.test(e.sql)).map((e) => [e.sql, e])).values()];
    expect(selects.map((s) => s.sql)).toContain(PURGEABLE_CALLS);
    for (const s of selects) {
      const plan = (prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(...s.args) as Array<{ detail: string }>).map((r) => r.detail);
      expect({ sql: s.sql, fullScans: plan.filter(isFullScan) }).toEqual({ sql: s.sql, fullScans: [] });
      if (s.sql === PURGEABLE_CALLS) {
        expect(plan[0]).toMatch(/^SEARCH c USING (COVERING )?INDEX calls_last_activity \(\(last_activity_at,call_sid\)>\(\?,\?\) AND last_activity_at<\?\)/);
        expect(plan.join('\n')).not.toMatch(/TEMP B-TREE/);
      }
    }
  });
});
