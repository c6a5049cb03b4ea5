import type Database from 'better-sqlite3';
import { createSqliteStore } from '../src/store/sqlite';
import type { IncomingEvent, NewCall, SessionQuery, Store } from '../src/store/store';

/**
 * The query plans of the SQL the real store runs, captured rather than copied: `db.prepare` is
 * wrapped so that every statement records its SQL and arguments when it executes, each store method
 * runs once, and every SELECT it ran is put through EXPLAIN QUERY PLAN with the same arguments.
 * Used by test/unit/query-plans.test.ts and by the bench (goal: the operator API uses indexes).
 */

export interface PlannedStatement {
  sql: string;
  plan: string[];
  /** Plan lines that read a whole table rather than search or walk an index. */
  fullScans: string[];
}

export interface PlannedCase {
  name: string;
  statements: PlannedStatement[];
}

const EXECUTING = ['get', 'all', 'iterate', 'run'] as const;

/** A SCAN line that walks no index ("SCAN t", "SCAN t USING INTEGER PRIMARY KEY") reads every row. */
export function isFullScan(line: string): boolean {
  const m = /^SCAN (\S+)(.*)$/.exec(line);
  if (!m || m[1] === 'CONSTANT') return false;
  return !/USING (COVERING )?INDEX /.test(m[2]!);
}

export function recordExecutions(db: Database.Database) {
  const executed: Array<{ sql: string; args: unknown[] }> = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    const stmt = prepare(sql) as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of EXECUTING) {
      const original = stmt[method]!.bind(stmt);
      stmt[method] = (...args: unknown[]) => {
        executed.push({ sql, args });
        return original(...args);
      };
    }
    return stmt;
  }) as unknown as typeof db.prepare;
  const explain = (sql: string, args: unknown[]) =>
    (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail);
  return { executed, explain };
}

const CALL_A = 'CA00000000000000000000000000000001';
const CALL_B = 'CA00000000000000000000000000000002';
const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';

function call(callSid: string, receivedAt: number): NewCall {
  return { callSid, accountSid: ACCOUNT, from: '+14155550100', to: '+15550001111', direction: 'inbound', receivedAt };
}

function event(callSid: string, siprecSid: string, name: string, kind: string, at: number): IncomingEvent {
  const error = kind === 'siprec-error';
  return {
    accountSid: ACCOUNT, callSid, siprecSid, siprecName: name, event: kind, timestampRaw: new Date(at).toISOString(),
    occurredAt: at, receivedAt: at, errorCode: error ? '64101' : null, errorMessage: error ? 'connection failed' : null, payload: {},
  };
}

/**
 * Runs each operator API query (listSessions with and without each filter and with a cursor, getCall,
 * getStats) and the ingest path on `db` (a fresh database with the real migrations) and returns the
 * plan of every SELECT each one executed. The handle is left wrapped; close it afterwards.
 */
export async function planOperatorQueries(db: Database.Database, now = Date.now()): Promise<PlannedCase[]> {
  const { executed, explain } = recordExecutions(db);
  const store: Store = createSqliteStore(db);
  const cases: PlannedCase[] = [];
  const run = async (name: string, action: () => Promise<unknown>) => {
    const from = executed.length;
    await action();
    const selects = executed.slice(from).filter((e) => /^\s*(SELECT|WITH)\b/i.test(e.sql));
    const seen = new Set<string>();
    const statements: PlannedStatement[] = [];
    for (const s of selects) {
      if (seen.has(s.sql)) continue;
      seen.add(s.sql);
      const plan = explain(s.sql, s.args);
      statements.push({ sql: s.sql.replace(/\s+/g, ' ').trim(), plan, fullScans: plan.filter(isFullScan) });
    }
    cases.push({ name, statements });
  };

  const sessions = [
    { name: 'gridspace', connectorName: 'Gridspace_1', track: 'both_tracks', parameters: [] },
    { name: 'compliance', connectorName: 'Compliance_SRS', track: null, parameters: [] },
  ];
  await run('ingest: voice webhook (recordRequested)', () => store.recordRequested(call(CALL_A, now - 5000), sessions));
  await store.recordRequested(call(CALL_B, now - 4000), sessions);
  await run('ingest: status callback (applyEvent)', () =>
    store.applyEvent(event(CALL_A, 'SR00000000000000000000000000000001', 'gridspace', 'siprec-started', now - 3000)),
  );
  await store.applyEvent(event(CALL_A, 'SR00000000000000000000000000000002', 'compliance', 'siprec-error', now - 2000));
  await store.applyEvent(event(CALL_B, 'SR00000000000000000000000000000003', 'gridspace', 'siprec-started', now - 1000));

  const first = await store.listSessions({ limit: 1 });
  const cursor = first.nextCursor ?? undefined;
  if (!cursor) throw new Error('listSessions gave no nextCursor for a one-row page of several sessions');
  const queries: Array<[string, Omit<SessionQuery, 'limit'>]> = [
    ['no filter', {}],
    ['state', { state: 'active' }],
    ['callSid', { callSid: CALL_A }],
    ['connectorName', { connectorName: 'Gridspace_1' }],
    ['every filter', { state: 'active', callSid: CALL_A, connectorName: 'Gridspace_1' }],
    ['cursor', { cursor }],
    ['state + cursor', { state: 'active', cursor }],
    ['callSid + cursor', { callSid: CALL_A, cursor }],
    ['connectorName + cursor', { connectorName: 'Gridspace_1', cursor }],
    ['connectorPrefix', { connectorPrefix: 'grid' }],
    ['connectorPrefix + cursor + total', { connectorPrefix: 'grid', cursor, withTotal: true }],
    ['siprecSid', { siprecSid: 'SR00000000000000000000000000000001' }],
    ['phone + total', { phone: '+14155550100', withTotal: true }],
    ['since + until + total', { since: now - 4500, until: now, withTotal: true }],
    ['state + since + cursor', { state: 'active', since: now - 4500, cursor }],
  ];
  for (const [label, q] of queries) await run(`GET /api/sessions: ${label}`, () => store.listSessions({ limit: 50, ...q }));
  await run('GET /api/calls/:callSid (getCall)', () => store.getCall(CALL_A));
  await run('GET /api/stats (getStats)', () => store.getStats(now));
  await run('GET /api/overview (connectorSummary, stuckRequested)', () => Promise.all([store.connectorSummary(now), store.stuckRequested(now - 30_000)]));
  return cases;
}
