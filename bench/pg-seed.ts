import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { TEST_ACCOUNT_SID } from '../test/helpers/env';
import { seededCall, type SeedSpec } from './seed';

/**
 * The operator API's ledger in PostgreSQL: the very rows bench/seed.ts gives SQLite (seededCall),
 * into a database the service's own migrations created (`siprec-control migrate`), loaded with COPY.
 * COPY runs with session_replication_role = replica, so the per-row triggers (the stat counters of
 * migrations/postgres/005, and the foreign keys) stay quiet; the counters are then computed once
 * with 005's own initial INSERT … SELECT, which is what the triggers would have summed to.
 */

const ROWS_PER_CHUNK = 2000;

// COPY's text format: tab-separated, \N for NULL, backslash escapes.
function field(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}
const line = (values: Array<string | number | null>) => `${values.map(field).join('\t')}\n`;

type Row = Array<string | number | null>;
type RowsOf = (i: number) => Row[];

function* chunks(calls: number, rowsOf: RowsOf): Generator<string> {
  let buf = '';
  let n = 0;
  for (let i = 0; i < calls; i++) {
    for (const r of rowsOf(i)) buf += line(r);
    if (++n === ROWS_PER_CHUNK) {
      yield buf;
      buf = '';
      n = 0;
    }
  }
  if (buf) yield buf;
}

export interface PgSeedResult {
  calls: number;
  sessions: number;
  events: number;
  seedSeconds: number;
}

export async function seedPostgresLedger(url: string, spec: SeedSpec, log: (line: string) => void): Promise<PgSeedResult> {
  const t0 = Date.now();
  const endAt = Date.now();
  const calls = Math.ceil(spec.sessions / 2);
  const sql = postgres(url, { max: 1, onnotice: () => undefined, connection: { session_replication_role: 'replica' } });
  try {
    const copy = async (table: string, statement: postgres.PendingQuery<postgres.Row[]>, rowsOf: RowsOf) => {
      const t = Date.now();
      await pipeline(Readable.from(chunks(calls, rowsOf)), await statement.writable());
      log(`[seed postgres] ${table} copied in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    };
    await copy(
      'calls',
      sql`COPY calls (call_sid, account_sid, from_number, to_number, direction, created_at, last_activity_at) FROM STDIN`,
      (i) => {
        const c = seededCall(i, spec, endAt);
        // What SQLite's triggers leave in last_activity_at: the newest write of the call (its last event).
        const last = Math.max(c.at, ...c.sessions.flatMap((s) => s.events.map((e) => e.receivedAt)));
        return [[c.callSid, TEST_ACCOUNT_SID, c.caller, '+15550001111', 'inbound', c.at, last]];
      },
    );
    await copy(
      'siprec_sessions',
      sql`COPY siprec_sessions (id, call_sid, name, siprec_sid, connector_name, track, parameters, state, requested_at, started_at, stopped_at,
        error_code, error_message, created_at, updated_at) FROM STDIN`,
      (i) => {
        const c = seededCall(i, spec, endAt);
        return c.sessions.map(({ id, siprecSid, connector: k, derived: d }) => [
          id, c.callSid, k.name, siprecSid, k.connector, k.track, k.parameters, d.state, c.at, d.startedAt, d.stoppedAt, d.errorCode, d.errorMessage, c.at, c.at,
        ]);
      },
    );
    await copy(
      'siprec_events',
      sql`COPY siprec_events (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, error_code, error_message, payload) FROM STDIN`,
      (i) =>
        seededCall(i, spec, endAt).sessions.flatMap((s) =>
          s.events.map((e) => [s.id, s.siprecSid, e.event, e.timestampRaw, e.occurredAt, e.receivedAt, e.errorCode, e.errorMessage, e.payload]),
        ),
    );
    // Ids were given explicitly: the identity must continue after them.
    await sql`SELECT setval(pg_get_serial_sequence('siprec_sessions', 'id'), (SELECT max(id) FROM siprec_sessions))`;
    // migrations/postgres/005's initial counts, over the seeded rows.
    await sql.begin(async (tx) => {
      await tx`DELETE FROM session_state_counts`;
      await tx`INSERT INTO session_state_counts (state, pid, n) SELECT state, 0, count(*) FROM siprec_sessions GROUP BY state`;
      await tx`DELETE FROM event_minute_counts`;
      await tx`INSERT INTO event_minute_counts (minute, event, pid, n)
        SELECT received_at / 60000, event, 0, count(*) FROM siprec_events
        WHERE received_at >= (extract(epoch FROM now())::bigint - 2 * 86400) * 1000
        GROUP BY 1, 2`;
    });
    await sql`VACUUM ANALYZE`;
    await sql`CHECKPOINT`;
    const [counts] = await sql<Array<{ calls: string; sessions: string; events: string }>>`SELECT
      (SELECT count(*) FROM calls) AS calls, (SELECT count(*) FROM siprec_sessions) AS sessions, (SELECT count(*) FROM siprec_events) AS events`;
    const result = { calls: Number(counts!.calls), sessions: Number(counts!.sessions), events: Number(counts!.events), seedSeconds: (Date.now() - t0) / 1000 };
    const expected = { calls, sessions: spec.sessions, events: spec.sessions * spec.eventsPerSession };
    if (result.calls !== expected.calls || result.sessions !== expected.sessions || result.events !== expected.events) {
      throw new Error(`the PostgreSQL seed holds ${JSON.stringify(result)}, not ${JSON.stringify(expected)}`);
    }
    log(`[seed postgres] ${result.events.toLocaleString('en')} events over ${result.sessions.toLocaleString('en')} sessions in ${result.seedSeconds.toFixed(1)} s`);
    return result;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
