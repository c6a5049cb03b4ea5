import type Database from 'better-sqlite3';
import type { ConnectorSummary, StuckRequested } from '../store';
import { iso } from '../rows';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The status page's overview: per-connector health and sessions stuck in `requested`. Each query
 * reads a bounded slice through an index: open sessions (live calls only), errors of the last day,
 * requested sessions older than a cutoff.
 */
export function createOperatorViews(db: Database.Database) {
  const openByConnector = db.prepare(
    `SELECT connector_name, count(*) AS n FROM siprec_sessions WHERE state IN ('requested', 'active') GROUP BY connector_name`,
  );
  // SQLite fills the bare columns from the row that gave max(): the connector's latest error.
  const errorsByConnector = db.prepare(
    `SELECT s.connector_name, sum(e.received_at >= @hour) AS failed_last_hour, max(e.received_at) AS at,
            e.error_code, e.error_message, s.call_sid, s.name
     FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
     WHERE e.event = 'siprec-error' AND e.received_at >= @day
     GROUP BY s.connector_name`,
  );
  const stuckCount = db.prepare(`SELECT count(*) AS n FROM siprec_sessions WHERE state = 'requested' AND requested_at < ?`);
  const stuckOldest = db.prepare(
    `SELECT call_sid, name, connector_name, requested_at FROM siprec_sessions
     WHERE state = 'requested' AND requested_at < ? ORDER BY requested_at, id LIMIT 1`,
  );

  const connectorSummary = db.transaction((now: number): ConnectorSummary[] => {
    const byName = new Map<string | null, ConnectorSummary>();
    const of = (name: string | null) => {
      let c = byName.get(name);
      if (!c) byName.set(name, (c = { connectorName: name, open: 0, failedLastHour: 0, lastError: null }));
      return c;
    };
    for (const r of openByConnector.all() as Array<{ connector_name: string | null; n: number }>) of(r.connector_name).open = r.n;
    const errors = errorsByConnector.all({ hour: now - HOUR, day: now - DAY }) as Array<{
      connector_name: string | null;
      failed_last_hour: number;
      at: number;
      error_code: string | null;
      error_message: string | null;
      call_sid: string;
      name: string;
    }>;
    for (const r of errors) {
      const c = of(r.connector_name);
      c.failedLastHour = r.failed_last_hour;
      c.lastError = { callSid: r.call_sid, name: r.name, errorCode: r.error_code, errorMessage: r.error_message, at: iso(r.at) as string };
    }
    // By name, sessions without a connector last.
    return [...byName.values()].sort((a, b) => (a.connectorName === null ? 1 : b.connectorName === null ? -1 : a.connectorName.localeCompare(b.connectorName)));
  });

  const stuckRequested = db.transaction((before: number): StuckRequested => {
    const count = (stuckCount.get(before) as { n: number }).n;
    const oldest = stuckOldest.get(before) as { call_sid: string; name: string; connector_name: string | null; requested_at: number } | undefined;
    return {
      count,
      oldest: oldest ? { callSid: oldest.call_sid, name: oldest.name, connectorName: oldest.connector_name, requestedAt: iso(oldest.requested_at) as string } : null,
    };
  });

  return { connectorSummary, stuckRequested };
}
