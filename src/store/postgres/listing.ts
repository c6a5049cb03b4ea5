import type postgres from 'postgres';
import { InvalidCursorError, likePrefix, type SessionPage, type SessionQuery } from '../store';
import { decodeCursor, encodeCursor, toSessionListItem, type SessionRow } from '../rows';
import type { Sql } from './connection';
import { stateCountsSum } from './stats';

type Fragment = postgres.PendingQuery<postgres.Row[]>;

/**
 * Each filter's condition on `s` (siprec_sessions), as a fragment with its value bound. Each is
 * served by an index (migrations/postgres/001 and 008): the prefix by ascii_lower(connector_name)
 * text_pattern_ops, the number by calls' From and To indexes, the time range by the created_at
 * indexes the listing walks anyway.
 */
const FILTERS: Array<[keyof SessionQuery, (sql: Sql, q: SessionQuery) => Fragment]> = [
  ['state', (sql, q) => sql`s.state = ${q.state!}`],
  ['callSid', (sql, q) => sql`s.call_sid = ${q.callSid!}`],
  ['connectorName', (sql, q) => sql`s.connector_name = ${q.connectorName!}`],
  // LIKE's default escape is the backslash, as likePrefix writes it.
  ['connectorPrefix', (sql, q) => sql`ascii_lower(s.connector_name) LIKE ascii_lower(${likePrefix(q.connectorPrefix!)})`],
  ['siprecSid', (sql, q) => sql`s.siprec_sid = ${q.siprecSid!}`],
  [
    'phone',
    (sql, q) => sql`s.call_sid IN (SELECT call_sid FROM calls WHERE from_number = ${q.phone!} UNION SELECT call_sid FROM calls WHERE to_number = ${q.phone!})`,
  ],
  ['since', (sql, q) => sql`s.created_at >= ${q.since!}`],
  ['until', (sql, q) => sql`s.created_at < ${q.until!}`],
];

const and = (sql: Sql, parts: Fragment[]): Fragment =>
  parts.length === 0 ? sql`TRUE` : parts.slice(1).reduce((acc, p) => sql`${acc} AND ${p}`, parts[0]!);

type ListRow = SessionRow & { from_number: string | null; to_number: string | null };

/**
 * GET /api/sessions: a keyset page, newest first, and (when asked) how many sessions match in all.
 * One statement either way, so the page and its total come from one snapshot, in one round trip.
 */
export async function listSessions(sql: Sql, q: SessionQuery): Promise<SessionPage> {
  const on = FILTERS.filter(([key]) => q[key] !== undefined);
  const where = on.map(([, f]) => f(sql, q));
  const paged = [...where];
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    if (!c) throw new InvalidCursorError();
    paged.push(sql`(s.created_at, s.id) < (${c.createdAt}::bigint, ${c.id}::bigint)`);
  }
  const page = sql`SELECT s.*, c.from_number, c.to_number FROM siprec_sessions s JOIN calls c ON c.call_sid = s.call_sid
    WHERE ${and(sql, paged)} ORDER BY s.created_at DESC, s.id DESC LIMIT ${q.limit + 1}`;
  let rows: ListRow[];
  let total: number | undefined;
  if (!q.withTotal) {
    rows = await sql<ListRow[]>`${page}`;
  } else {
    // The trigger-kept counters (migrations/postgres/005): no filter, or the state alone, costs nothing.
    const counted =
      on.length === 0
        ? stateCountsSum(sql)
        : on.length === 1 && on[0]![0] === 'state'
          ? stateCountsSum(sql, q.state)
          : sql`(SELECT count(*) FROM siprec_sessions s WHERE ${and(sql, where)})`;
    const [row] = await sql<Array<{ total: number; rows: ListRow[] | null }>>`SELECT ${counted} AS total,
      (SELECT json_agg(p ORDER BY p.created_at DESC, p.id DESC) FROM (${page}) p) AS rows`;
    rows = row?.rows ?? [];
    total = Number(row?.total ?? 0);
  }
  const shown = rows.slice(0, q.limit);
  const last = shown.at(-1);
  const result: SessionPage = { sessions: shown.map(toSessionListItem), nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null };
  if (total !== undefined) result.total = total;
  return result;
}
