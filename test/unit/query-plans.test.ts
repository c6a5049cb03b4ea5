import type Database from 'better-sqlite3';
import { isFullScan, planOperatorQueries, type PlannedCase } from '../../bench/query-plans';
import { openDatabase } from '../../src/store/sqlite/open';
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
      'GET /api/calls/:callSid (getCall)',
      'GET /api/stats (getStats)',
    ]);
    // A read that ran no SELECT would mean the capture missed it, not that it is fast.
    expect(cases.filter((c) => c.name.startsWith('GET') && c.statements.length === 0).map((c) => c.name)).toEqual([]);
  });

  it('filters by cursor with an index range, not by reading from the newest row on', () => {
    const cursorCase = cases.find((c) => c.name === 'GET /api/sessions: cursor')!;
    expect(cursorCase.statements.flatMap((s) => s.plan).join('\n')).toMatch(/SEARCH \S+ USING (COVERING )?INDEX \S+ \((\w+=\? AND )*created_at<\?\)/);
  });

  it('uses an index for every SELECT of every query: no full table scan', () => {
    const scans = cases.flatMap((c) => c.statements.filter((s) => s.fullScans.length > 0).map((s) => ({ case: c.name, sql: s.sql, plan: s.plan })));
    expect(scans).toEqual([]);
    for (const c of cases) {
      for (const s of c.statements) expect(s.plan.some((line) => /USING (COVERING )?INDEX|USING (INTEGER )?PRIMARY KEY/.test(line))).toBe(true);
    }
  });
});
