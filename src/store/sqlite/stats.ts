import type Database from 'better-sqlite3';
import { SESSION_STATES, type SessionState, type Stats } from '../store';
import { toLatestError, type LatestErrorRow } from '../rows';

const MINUTE = 60_000;

/**
 * Stats from the trigger-kept counters (migrations/sqlite/005): constant work whatever the ledger's size.
 * Windows are whole minutes: "last hour" counts from the start of the minute an hour ago.
 */
export function createStatsQueries(db: Database.Database) {
  const byState = db.prepare(`SELECT state, n FROM session_state_counts WHERE state IN ('requested', 'active', 'failed', 'stopped')`);
  const sinceMinute = db.prepare('SELECT event, sum(n) AS n FROM event_minute_counts WHERE minute >= ? GROUP BY event');
  const latestErrors = db.prepare(
    `SELECT s.call_sid, s.name, s.connector_name, e.error_code, e.error_message, e.received_at
     FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
     WHERE e.event = 'siprec-error' ORDER BY e.received_at DESC LIMIT 5`,
  );

  const countSessionsByState = (): Record<SessionState, number> => {
    const counts = Object.fromEntries(SESSION_STATES.map((s) => [s, 0])) as Record<SessionState, number>;
    for (const r of byState.all() as Array<{ state: SessionState; n: number }>) counts[r.state] = r.n;
    return counts;
  };

  const eventsSince = (at: number) => {
    const rows = sinceMinute.all(Math.floor(at / MINUTE)) as Array<{ event: string; n: number }>;
    const of = (event: string) => rows.find((r) => r.event === event)?.n ?? 0;
    return { total: rows.reduce((sum, r) => sum + r.n, 0), of };
  };

  const getStats = (now: number): Stats => {
    const hour = eventsSince(now - 3_600_000);
    const day = eventsSince(now - 86_400_000);
    const latest = latestErrors.all() as LatestErrorRow[];
    return {
      sessionsByState: countSessionsByState(),
      eventsLastHour: hour.total,
      eventsLastDay: day.total,
      startedLastHour: hour.of('siprec-started'),
      failedLastHour: hour.of('siprec-error'),
      latestErrors: latest.map(toLatestError),
    };
  };

  return { getStats, countSessionsByState };
}
