import type { CallDetail, ConnectorSummary, StuckRequested } from '../store';
import { iso, toCallView, toEventView, toSessionView, type CallRow, type EventRow, type SessionRow } from '../rows';
import type { Sql } from './connection';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The call, its sessions and their events. One statement, so one snapshot (a READ COMMITTED
 * statement reads as of its start, subqueries included) in one round trip: a commit in between
 * cannot show a session beside events it has not been updated for.
 */
export async function getCall(sql: Sql, callSid: string): Promise<CallDetail | null> {
  const [row] = await sql<Array<{ call: CallRow | null; sessions: SessionRow[] | null; events: EventRow[] | null }>>`SELECT
      (SELECT row_to_json(c) FROM calls c WHERE c.call_sid = ${callSid}) AS call,
      (SELECT json_agg(s ORDER BY s.id) FROM siprec_sessions s WHERE s.call_sid = ${callSid}) AS sessions,
      (SELECT json_agg(e ORDER BY e.session_id, e.id) FROM siprec_events e
        WHERE e.session_id IN (SELECT id FROM siprec_sessions WHERE call_sid = ${callSid})) AS events`;
  if (!row?.call) return null;
  const events = row.events ?? [];
  return {
    call: toCallView(row.call),
    sessions: (row.sessions ?? []).map((s) => ({ ...toSessionView(s), events: events.filter((e) => e.session_id === s.id).map(toEventView) })),
  };
}

type ErrorRow = {
  connector_name: string | null;
  failed_last_hour: number;
  at: number;
  error_code: string | null;
  error_message: string | null;
  call_sid: string;
  name: string;
};

/**
 * The status page's per-connector health: open sessions (live calls only) and each connector's latest
 * error of the day beside its count for the last hour; one statement, one snapshot.
 */
export async function connectorSummary(sql: Sql, now: number): Promise<ConnectorSummary[]> {
  const byName = new Map<string | null, ConnectorSummary>();
  const of = (name: string | null) => {
    let c = byName.get(name);
    if (!c) byName.set(name, (c = { connectorName: name, open: 0, failedLastHour: 0, lastError: null }));
    return c;
  };
  const [row] = await sql<Array<{ open: Array<{ connector_name: string | null; n: number }> | null; errors: ErrorRow[] | null }>>`SELECT
    (SELECT json_agg(o) FROM (SELECT connector_name, count(*) AS n FROM siprec_sessions
      WHERE state IN ('requested', 'active') GROUP BY connector_name) o) AS open,
    (SELECT json_agg(x) FROM (SELECT DISTINCT ON (s.connector_name) s.connector_name,
        count(*) FILTER (WHERE e.received_at >= ${now - HOUR}) OVER (PARTITION BY s.connector_name) AS failed_last_hour,
        e.received_at AS at, e.error_code, e.error_message, s.call_sid, s.name
      FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
      WHERE e.event = 'siprec-error' AND e.received_at >= ${now - DAY}
      ORDER BY s.connector_name, e.received_at DESC, e.id DESC) x) AS errors`;
  for (const r of row?.open ?? []) of(r.connector_name).open = r.n;
  const errors = row?.errors ?? [];
  for (const r of errors) {
    const c = of(r.connector_name);
    c.failedLastHour = r.failed_last_hour;
    c.lastError = { callSid: r.call_sid, name: r.name, errorCode: r.error_code, errorMessage: r.error_message, at: iso(r.at) as string };
  }
  // By name, sessions without a connector last.
  return [...byName.values()].sort((a, b) => (a.connectorName === null ? 1 : b.connectorName === null ? -1 : a.connectorName.localeCompare(b.connectorName)));
}

type Oldest = { call_sid: string; name: string; connector_name: string | null; requested_at: number };

export async function stuckRequested(sql: Sql, before: number): Promise<StuckRequested> {
  const [row] = await sql<Array<{ n: number; oldest: Oldest | null }>>`SELECT
    (SELECT count(*) FROM siprec_sessions WHERE state = 'requested' AND requested_at < ${before}) AS n,
    (SELECT row_to_json(o) FROM (SELECT call_sid, name, connector_name, requested_at FROM siprec_sessions
      WHERE state = 'requested' AND requested_at < ${before} ORDER BY requested_at, id LIMIT 1) o) AS oldest`;
  const oldest = row?.oldest;
  return {
    count: row?.n ?? 0,
    oldest: oldest ? { callSid: oldest.call_sid, name: oldest.name, connectorName: oldest.connector_name, requestedAt: iso(oldest.requested_at) as string } : null,
  };
}
