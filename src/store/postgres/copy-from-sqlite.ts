import Database from 'better-sqlite3';
import { createPool } from './connection';

/**
 * Copies a SQLite ledger into a migrated PostgreSQL one, for moving up to several instances. Every
 * row is keyed by what identifies it in both (a call by its SID, a session by call and name, an event
 * by SiprecSid, event and Timestamp, an alert by its dedupe key) and inserted ON CONFLICT DO NOTHING:
 * a rerun, or a copy into a ledger that live instances already write, copies nothing twice. Row ids
 * are not copied: PostgreSQL gives its own, and events are re-pointed at their session's new id. The
 * stat counters follow from the rows (migrations/postgres/005's triggers).
 */

export interface TableCount {
  /** Rows in the SQLite file. */
  source: number;
  /** Of those, how many this run inserted (the rest were there already). */
  copied: number;
  /** Of the source rows, how many the PostgreSQL ledger holds after the copy: must equal source. */
  present: number;
}

export type CopyReport = Record<'calls' | 'sessions' | 'events' | 'alerts', TableCount>;

const BATCH = 500;

type Row = Record<string, string | number | null>;

const CALL_COLUMNS = ['call_sid', 'account_sid', 'from_number', 'to_number', 'direction', 'created_at', 'route_key', 'last_activity_at'] as const;
const SESSION_COLUMNS = ['call_sid', 'name', 'siprec_sid', 'connector_name', 'track', 'parameters', 'state', 'requested_at', 'started_at', 'stopped_at', 'stop_requested_at', 'error_code', 'error_message', 'created_at', 'updated_at'] as const;
const EVENT_COLUMNS = ['siprec_sid', 'event', 'timestamp_raw', 'occurred_at', 'received_at', 'error_code', 'error_message', 'payload'] as const;
const ALERT_COLUMNS = ['kind', 'dedupe_key', 'severity', 'message', 'call_sid', 'session_name', 'connector_name', 'error_code', 'error_message', 'occurred_at', 'state', 'attempts', 'next_attempt_at', 'last_error', 'delivered_at', 'updated_at'] as const;

const pick = (row: Row, columns: readonly string[]): Row => Object.fromEntries(columns.map((c) => [c, row[c] ?? null]));

/** The copy; `url` must be a ledger already migrated to the code's version (openStore does that). */
export async function copySqliteLedger(file: string, url: string, onProgress: (soFar: CopyReport) => void = () => undefined): Promise<CopyReport> {
  const src = new Database(file, { readonly: true, fileMustExist: true });
  // The store's own pool: the same TLS (sslrootcert), hosts and types as the server's; no deadline on
  // a batch, which may be large.
  const sql = createPool(url, { max: 1, applicationName: 'siprec-control copy-ledger', statementTimeoutMs: 0, connectTimeoutSeconds: 10 });
  try {
    // One read transaction: one snapshot of the file, even if a server still writes to it.
    src.exec('BEGIN');
    const count = (table: string) => (src.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    const report: CopyReport = {
      calls: { source: count('calls'), copied: 0, present: 0 },
      sessions: { source: count('siprec_sessions'), copied: 0, present: 0 },
      events: { source: count('siprec_events'), copied: 0, present: 0 },
      alerts: { source: count('alert_outbox'), copied: 0, present: 0 },
    };
    const callPage = src.prepare('SELECT * FROM calls WHERE call_sid > ? ORDER BY call_sid LIMIT ?');
    const sessionsOf = src.prepare(`SELECT * FROM siprec_sessions WHERE call_sid IN (SELECT value FROM json_each(?)) ORDER BY id`);
    const eventsOf = src.prepare(`SELECT e.*, s.call_sid, s.name FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
      WHERE s.call_sid IN (SELECT value FROM json_each(?)) ORDER BY e.id`);

    let after = '';
    for (;;) {
      const calls = callPage.all(after, BATCH) as Row[];
      if (calls.length === 0) break;
      after = String(calls.at(-1)!.call_sid);
      const sids = JSON.stringify(calls.map((c) => c.call_sid));
      const sessions = sessionsOf.all(sids) as Row[];
      const events = eventsOf.all(sids) as Row[];
      // A batch of calls with their sessions and events commits whole, so an interrupted copy leaves
      // no event without its session, and the rerun goes on from wherever it stopped.
      await sql.begin(async (tx) => {
        report.calls.copied += (await tx`INSERT INTO calls ${tx(calls.map((c) => pick(c, CALL_COLUMNS)), ...CALL_COLUMNS)} ON CONFLICT (call_sid) DO NOTHING`).count;
        report.calls.present += (await tx`SELECT 1 FROM calls WHERE call_sid = ANY(${calls.map((c) => String(c.call_sid))})`).count;
        if (sessions.length > 0) {
          report.sessions.copied += (
            await tx`INSERT INTO siprec_sessions ${tx(sessions.map((s) => pick(s, SESSION_COLUMNS)), ...SESSION_COLUMNS)} ON CONFLICT (call_sid, name) DO NOTHING`
          ).count;
        }
        const ids = new Map<string, number>();
        const found = await tx<{ id: string | number; call_sid: string; name: string }[]>`SELECT s.id, s.call_sid, s.name FROM siprec_sessions s
          WHERE s.call_sid = ANY(${calls.map((c) => String(c.call_sid))})`;
        for (const f of found) ids.set(`${f.call_sid}\n${f.name}`, Number(f.id));
        report.sessions.present += sessions.filter((s) => ids.has(`${s.call_sid}\n${s.name}`)).length;
        for (let i = 0; i < events.length; i += BATCH) {
          const chunk: Row[] = events.slice(i, i + BATCH).map((e) => ({ session_id: ids.get(`${e.call_sid}\n${e.name}`) ?? null, ...pick(e, EVENT_COLUMNS) }));
          report.events.copied += (
            await tx`INSERT INTO siprec_events ${tx(chunk, 'session_id', ...EVENT_COLUMNS)} ON CONFLICT (siprec_sid, event, timestamp_raw) DO NOTHING`
          ).count;
          report.events.present += (
            await tx`SELECT 1 FROM siprec_events e JOIN unnest(${chunk.map((c) => String(c.siprec_sid))}::text[], ${chunk.map((c) => String(c.event))}::text[], ${chunk.map((c) => String(c.timestamp_raw))}::text[]) AS k(siprec_sid, event, timestamp_raw)
              USING (siprec_sid, event, timestamp_raw)`
          ).count;
        }
      });
      onProgress(report);
    }

    const alertPage = src.prepare('SELECT * FROM alert_outbox WHERE id > ? ORDER BY id LIMIT ?');
    let afterId = 0;
    for (;;) {
      const alerts = alertPage.all(afterId, BATCH) as Row[];
      if (alerts.length === 0) break;
      afterId = Number(alerts.at(-1)!.id);
      report.alerts.copied += (await sql`INSERT INTO alert_outbox ${sql(alerts.map((a) => pick(a, ALERT_COLUMNS)), ...ALERT_COLUMNS)} ON CONFLICT (dedupe_key) DO NOTHING`).count;
      report.alerts.present += (await sql`SELECT 1 FROM alert_outbox WHERE dedupe_key = ANY(${alerts.map((a) => String(a.dedupe_key))})`).count;
      onProgress(report);
    }
    src.exec('COMMIT');
    return report;
  } finally {
    if (src.inTransaction) src.exec('ROLLBACK');
    src.close();
    await sql.end({ timeout: 5 });
  }
}
