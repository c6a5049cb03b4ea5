import pino from 'pino';
import postgres from 'postgres';
import type { Sql } from '../../src/store/postgres/connection';
import { openPostgresStore } from '../../src/store/postgres';
import { listSessions } from '../../src/store/postgres/listing';
import { countSessionsByState, getStats } from '../../src/store/postgres/stats';
import { connectorSummary, getCall, stuckRequested } from '../../src/store/postgres/views';
import type { SessionQuery, Store } from '../../src/store/store';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';

/**
 * The operator queries' plans on PostgreSQL, as test/unit/query-plans.test.ts checks SQLite's: on a
 * ledger big enough for the planner to care (60,000 sessions, 240,000 events over 30 days), none
 * of them reads a whole table of calls, sessions or events. The store's own query functions are run
 * through an `sql` that EXPLAINs each statement they would execute instead of executing it, so
 * what is checked is the SQL the store sends, with its parameters.
 */

const DAY = 86_400_000;
const BIG_TABLES = new Set(['calls', 'siprec_sessions', 'siprec_events']);
const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };

function seqScans(node: PlanNode, found: string[] = []): string[] {
  if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] && BIG_TABLES.has(node['Relation Name'])) found.push(node['Relation Name']);
  for (const child of node.Plans ?? []) seqScans(child, found);
  return found;
}

/** `real`, but every statement awaited is EXPLAINed instead, its plan kept in `plans`, and it yields no rows. */
function explaining(real: Sql, plans: PlanNode[]): Sql {
  const tag = (first: unknown, ...rest: unknown[]) => {
    const made = (real as unknown as (...a: unknown[]) => unknown)(first, ...rest);
    if (!Array.isArray(first) || !('raw' in first)) return made;
    const query = made as postgres.PendingQuery<postgres.Row[]>;
    // Fragments nested in a statement are never awaited: only the statement itself is explained.
    void Object.defineProperty(query, 'then', {
      value: (resolve: (rows: unknown[]) => unknown, reject: (err: unknown) => unknown) =>
        real<Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>>`EXPLAIN (FORMAT JSON) ${query}`
          .then((rows) => {
            plans.push(rows[0]!['QUERY PLAN'][0]!.Plan);
            return [];
          })
          .then(resolve, reject),
    });
    return query;
  };
  return Object.assign(tag, real);
}

describeWithPostgres('PostgreSQL store: operator query plans on a big ledger', () => {
  let db: PgDatabase;
  let store: Store;
  let sql: postgres.Sql;

  beforeAll(async () => {
    db = await freshPgDatabase();
    store = await openPostgresStore({ kind: 'postgres', url: db.url, poolSize: 2 }, { log: pino({ level: 'silent' }), mode: 'cli' });
    // Seeded in the database itself, triggers off; the counters then computed once, as 005 does.
    sql = postgres(db.url, { max: 1, onnotice: () => undefined, connection: { session_replication_role: 'replica' } });
    const start = NOW - 30 * DAY;
    await sql`INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at, last_activity_at)
      SELECT 'CA' || lpad(to_hex(i), 32, '0'), 'AC1', '+1415555' || lpad((i % 10000)::text, 4, '0'), '+15550001111', 'inbound',
        ${start}::bigint + i::bigint * 86400, ${start}::bigint + i::bigint * 86400 + 240000
      FROM generate_series(1, 30000) i`;
    await sql`INSERT INTO siprec_sessions (id, call_sid, name, siprec_sid, connector_name, track, parameters, state, requested_at,
        started_at, stopped_at, error_code, error_message, created_at, updated_at)
      SELECT k, 'CA' || lpad(to_hex((k + 1) / 2), 32, '0'), CASE WHEN k % 2 = 0 THEN 'gridspace' ELSE 'compliance' END,
        'SR' || lpad(to_hex(k), 32, '0'), CASE WHEN k % 2 = 0 THEN 'Gridspace_1' ELSE 'Compliance_SRS' END, 'both_tracks', '[]',
        CASE WHEN k % 100 < 85 THEN 'stopped' WHEN k % 100 < 95 THEN 'failed' WHEN k % 100 < 98 THEN 'active' ELSE 'requested' END,
        ${start}::bigint + ((k + 1) / 2)::bigint * 86400, NULL, NULL, NULL, NULL,
        ${start}::bigint + ((k + 1) / 2)::bigint * 86400, ${start}::bigint + ((k + 1) / 2)::bigint * 86400
      FROM generate_series(1, 60000) k`;
    await sql`INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, error_code, error_message, payload)
      SELECT k, 'SR' || lpad(to_hex(k), 32, '0'),
        CASE WHEN k % 100 BETWEEN 85 AND 94 AND e = 2 THEN 'siprec-error' WHEN e = 4 THEN 'siprec-stopped' ELSE 'siprec-started' END,
        'ts' || e, ${start}::bigint + ((k + 1) / 2)::bigint * 86400 + e * 60000, ${start}::bigint + ((k + 1) / 2)::bigint * 86400 + e * 60000,
        NULL, NULL, '{}'
      FROM generate_series(1, 60000) k, generate_series(1, 4) e`;
    await sql`INSERT INTO session_state_counts (state, pid, n) SELECT state, 0, count(*) FROM siprec_sessions GROUP BY state
      ON CONFLICT (state, pid) DO UPDATE SET n = excluded.n`;
    await sql`VACUUM ANALYZE`;
  }, 120_000);

  afterAll(async () => {
    await sql?.end();
    await store?.close();
    await db?.drop();
  });

  const planOf = async (run: (explain: Sql) => Promise<unknown>): Promise<PlanNode[]> => {
    const plans: PlanNode[] = [];
    const real = postgres(db.url, { max: 1, onnotice: () => undefined }) as unknown as Sql;
    try {
      await run(explaining(real, plans));
    } finally {
      await real.end();
    }
    expect(plans.length).toBeGreaterThan(0);
    return plans;
  };

  const listings: Array<[string, Omit<SessionQuery, 'limit'>]> = [
    ['the newest page', {}],
    ['the newest page and its total', { withTotal: true }],
    ['by state, with total', { state: 'failed', withTotal: true }],
    ['by connector prefix, with total', { connectorPrefix: 'GRID', withTotal: true }],
    ['by connector and state, with total', { connectorName: 'Compliance_SRS', state: 'active', withTotal: true }],
    ['by number, with total', { phone: '+14155550042', withTotal: true }],
    ['by time range, with total', { since: NOW - 5 * DAY, until: NOW - 4 * DAY, withTotal: true }],
    ['by call', { callSid: 'CA' + '1'.padStart(32, '0') }],
    ['by SID', { siprecSid: 'SR' + '2'.padStart(32, '0') }],
  ];

  it.each(listings)('lists sessions %s without reading a whole table', async (_name, query) => {
    for (const plan of await planOf((explain) => listSessions(explain, { limit: 50, ...query }))) expect(seqScans(plan)).toEqual([]);
  });

  it.each([
    ['a call with its sessions and events', (explain: Sql) => getCall(explain, 'CA' + '10'.padStart(32, '0'))],
    ['the connector summary', (explain: Sql) => connectorSummary(explain, NOW)],
    ['the sessions stuck in requested', (explain: Sql) => stuckRequested(explain, NOW - 60_000)],
    ['the stats', (explain: Sql) => getStats(explain, NOW)],
    ['the sessions gauge', (explain: Sql) => countSessionsByState(explain)],
  ])('reads %s without reading a whole table', async (_name, run) => {
    for (const plan of await planOf(run)) expect(seqScans(plan)).toEqual([]);
  });

  it('sees a whole-table read when there is one (the check can fail)', async () => {
    const plans = await planOf(async (explain) => explain`SELECT count(*) FROM siprec_events WHERE payload = '{}'`);
    expect(seqScans(plans[0]!)).toEqual(['siprec_events']);
  });
});
