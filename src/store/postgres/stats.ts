import { SESSION_STATES, type SessionState, type Stats } from '../store';
import { iso } from '../rows';
import type { Sql, Tx } from './connection';

const MINUTE = 60_000;
const STATES = [...SESSION_STATES];

/** The advisory lock of "folding the counters": one instance at a time, the others skip. */
const FOLD_LOCK = 0x5ec_0003;

/**
 * Stats from the trigger-kept counters (migrations/postgres/005), summed over the pids that wrote
 * them: constant work whatever the ledger's size. Windows are whole minutes, as SQLite's.
 */
export async function sumOfStateCounts(sql: Sql | Tx, state?: SessionState): Promise<number> {
  const states = state ? [state] : STATES;
  const [row] = await sql<Array<{ n: number | null }>>`SELECT sum(n)::bigint AS n FROM session_state_counts WHERE state IN ${sql(states)}`;
  return row?.n ?? 0;
}

export async function countSessionsByState(sql: Sql | Tx): Promise<Record<SessionState, number>> {
  const counts = Object.fromEntries(SESSION_STATES.map((s) => [s, 0])) as Record<SessionState, number>;
  const rows = await sql<Array<{ state: SessionState; n: number }>>`SELECT state, sum(n)::bigint AS n FROM session_state_counts
    WHERE state IN ${sql(STATES)} GROUP BY state`;
  for (const r of rows) counts[r.state] = r.n;
  return counts;
}

type LatestError = {
  call_sid: string;
  name: string;
  connector_name: string | null;
  error_code: string | null;
  error_message: string | null;
  received_at: number;
};

/** In one snapshot (the caller opens it REPEATABLE READ). */
export async function getStats(tx: Tx, now: number): Promise<Stats> {
  const rows = await tx<Array<{ event: string; hour: number; day: number }>>`SELECT event,
      sum(n) FILTER (WHERE minute >= ${Math.floor((now - 3_600_000) / MINUTE)})::bigint AS hour,
      sum(n)::bigint AS day
    FROM event_minute_counts WHERE minute >= ${Math.floor((now - 86_400_000) / MINUTE)} GROUP BY event`;
  const of = (event: string, k: 'hour' | 'day') => rows.find((r) => r.event === event)?.[k] ?? 0;
  const total = (k: 'hour' | 'day') => rows.reduce((sum, r) => sum + (r[k] ?? 0), 0);
  const latest = await tx<LatestError[]>`SELECT s.call_sid, s.name, s.connector_name, e.error_code, e.error_message, e.received_at
    FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
    WHERE e.event = 'siprec-error' ORDER BY e.received_at DESC LIMIT 5`;
  return {
    sessionsByState: await countSessionsByState(tx),
    eventsLastHour: total('hour'),
    eventsLastDay: total('day'),
    startedLastHour: of('siprec-started', 'hour'),
    failedLastHour: of('siprec-error', 'hour'),
    latestErrors: latest.map((r) => ({
      callSid: r.call_sid,
      name: r.name,
      connectorName: r.connector_name,
      errorCode: r.error_code,
      errorMessage: r.error_message,
      at: iso(r.received_at) as string,
    })),
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
