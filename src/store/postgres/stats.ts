import { SESSION_STATES, type SessionState, type Stats } from '../store';
import { toLatestError, type LatestErrorRow } from '../rows';
import type { Sql, Tx } from './connection';

const MINUTE = 60_000;
const STATES = [...SESSION_STATES];

/** The advisory lock of "folding the counters": one instance at a time, the others skip. */
const FOLD_LOCK = 0x5ec_0003;

/**
 * Stats from the trigger-kept counters (migrations/postgres/005), summed over the pids that wrote
 * them: constant work whatever the ledger's size. Windows are whole minutes, as SQLite's.
 */
export const stateCountsSum = (sql: Sql, state?: SessionState) =>
  sql`(SELECT coalesce(sum(n), 0)::bigint FROM session_state_counts WHERE state IN ${sql(state ? [state] : STATES)})`;

export async function countSessionsByState(sql: Sql): Promise<Record<SessionState, number>> {
  const counts = Object.fromEntries(SESSION_STATES.map((s) => [s, 0])) as Record<SessionState, number>;
  const rows = await sql<Array<{ state: SessionState; n: number }>>`SELECT state, sum(n)::bigint AS n FROM session_state_counts
    WHERE state IN ${sql(STATES)} GROUP BY state`;
  for (const r of rows) counts[r.state] = r.n;
  return counts;
}


type StatsRow = {
  minutes: Array<{ event: string; hour: number | null; day: number }> | null;
  states: Array<{ state: SessionState; n: number }> | null;
  latest: LatestErrorRow[] | null;
};

/** One statement, so one snapshot and one round trip. */
export async function getStats(sql: Sql, now: number): Promise<Stats> {
  const [row] = await sql<StatsRow[]>`SELECT
    (SELECT json_agg(m) FROM (SELECT event,
        sum(n) FILTER (WHERE minute >= ${Math.floor((now - 3_600_000) / MINUTE)}) AS hour, sum(n) AS day
      FROM event_minute_counts WHERE minute >= ${Math.floor((now - 86_400_000) / MINUTE)} GROUP BY event) m) AS minutes,
    (SELECT json_agg(c) FROM (SELECT state, sum(n) AS n FROM session_state_counts WHERE state IN ${sql(STATES)} GROUP BY state) c) AS states,
    (SELECT json_agg(l) FROM (SELECT s.call_sid, s.name, s.connector_name, e.error_code, e.error_message, e.received_at
      FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
      WHERE e.event = 'siprec-error' ORDER BY e.received_at DESC LIMIT 5) l) AS latest`;
  const minutes = row?.minutes ?? [];
  const of = (event: string, k: 'hour' | 'day') => Number(minutes.find((r) => r.event === event)?.[k] ?? 0);
  const total = (k: 'hour' | 'day') => minutes.reduce((sum, r) => sum + Number(r[k] ?? 0), 0);
  const sessionsByState = Object.fromEntries(SESSION_STATES.map((s) => [s, 0])) as Record<SessionState, number>;
  for (const r of row?.states ?? []) sessionsByState[r.state] = Number(r.n);
  // Newest first, as the subquery ordered them (json_agg keeps its input's order).
  const latest = [...(row?.latest ?? [])].sort((a, b) => b.received_at - a.received_at);
  return {
    sessionsByState,
    eventsLastHour: total('hour'),
    eventsLastDay: total('day'),
    startedLastHour: of('siprec-started', 'hour'),
    failedLastHour: of('siprec-error', 'hour'),
    latestErrors: latest.map(toLatestError),
  };
}

/**
 * Folds the counter rows of connections that are gone into one row each, and drops minutes past two
 * days (fold_stat_counters, migrations/postgres/005); by one instance at a time. true when it ran.
 */
export async function foldCounters(tx: Tx): Promise<boolean> {
  const [lock] = await tx<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(${FOLD_LOCK}) AS ok`;
  if (!lock?.ok) return false;
  await tx`SELECT fold_stat_counters()`;
  return true;
}
