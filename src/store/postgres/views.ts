import type { CallDetail, ConnectorSummary, StuckRequested } from '../store';
import { iso, toCallView, toEventView, toSessionView, type CallRow, type EventRow, type SessionRow } from '../rows';
import type { Tx } from './connection';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The call, its sessions and their events, read in one snapshot (the caller opens it REPEATABLE READ). */
export async function getCall(tx: Tx, callSid: string): Promise<CallDetail | null> {
  const [call] = await tx<CallRow[]>`SELECT * FROM calls WHERE call_sid = ${callSid}`;
  if (!call) return null;
  const sessions = await tx<SessionRow[]>`SELECT * FROM siprec_sessions WHERE call_sid = ${callSid} ORDER BY id`;
  const events = sessions.length
    ? await tx<EventRow[]>`SELECT * FROM siprec_events WHERE session_id IN ${tx(sessions.map((s) => s.id))} ORDER BY session_id, id`
    : [];
  return {
    call: toCallView(call),
    sessions: sessions.map((s) => ({ ...toSessionView(s), events: events.filter((e) => e.session_id === s.id).map(toEventView) })),
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

/** The status page's per-connector health: open sessions (live calls only) and the last day's errors. */
export async function connectorSummary(tx: Tx, now: number): Promise<ConnectorSummary[]> {
  const byName = new Map<string | null, ConnectorSummary>();
  const of = (name: string | null) => {
    let c = byName.get(name);
    if (!c) byName.set(name, (c = { connectorName: name, open: 0, failedLastHour: 0, lastError: null }));
    return c;
  };
  const open = await tx<Array<{ connector_name: string | null; n: number }>>`SELECT connector_name, count(*) AS n
    FROM siprec_sessions WHERE state IN ('requested', 'active') GROUP BY connector_name`;
  for (const r of open) of(r.connector_name).open = r.n;
  // Each connector's latest error of the day, beside its count for the last hour.
  const errors = await tx<ErrorRow[]>`SELECT DISTINCT ON (s.connector_name) s.connector_name,
      (count(*) FILTER (WHERE e.received_at >= ${now - HOUR}) OVER (PARTITION BY s.connector_name))::bigint AS failed_last_hour,
      e.received_at AS at, e.error_code, e.error_message, s.call_sid, s.name
    FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
    WHERE e.event = 'siprec-error' AND e.received_at >= ${now - DAY}
    ORDER BY s.connector_name, e.received_at DESC, e.id DESC`;
  for (const r of errors) {
    const c = of(r.connector_name);
    c.failedLastHour = r.failed_last_hour;
    c.lastError = { callSid: r.call_sid, name: r.name, errorCode: r.error_code, errorMessage: r.error_message, at: iso(r.at) as string };
  }
  // By name, sessions without a connector last.
  return [...byName.values()].sort((a, b) => (a.connectorName === null ? 1 : b.connectorName === null ? -1 : a.connectorName.localeCompare(b.connectorName)));
}

export async function stuckRequested(tx: Tx, before: number): Promise<StuckRequested> {
  const [count] = await tx<Array<{ n: number }>>`SELECT count(*) AS n FROM siprec_sessions WHERE state = 'requested' AND requested_at < ${before}`;
  const [oldest] = await tx<Array<{ call_sid: string; name: string; connector_name: string | null; requested_at: number }>>`SELECT
      call_sid, name, connector_name, requested_at FROM siprec_sessions
    WHERE state = 'requested' AND requested_at < ${before} ORDER BY requested_at, id LIMIT 1`;
  return {
    count: count!.n,
    oldest: oldest ? { callSid: oldest.call_sid, name: oldest.name, connectorName: oldest.connector_name, requestedAt: iso(oldest.requested_at) as string } : null,
  };
}
