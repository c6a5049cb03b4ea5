import type postgres from 'postgres';
import { InvalidCursorError, type SessionPage, type SessionQuery } from '../store';
import { decodeCursor, encodeCursor, toSessionListItem, type SessionRow } from '../rows';
import { likePrefix } from '../sqlite/session-listing';
import type { Sql, Tx } from './connection';
import { sumOfStateCounts } from './stats';

type Fragment = postgres.PendingQuery<postgres.Row[]>;

/**
 * Each filter's condition on `s` (siprec_sessions), as a fragment with its value bound. Each is
 * served by an index (migrations/postgres/001 and 008): the prefix by ascii_lower(connector_name)
 * text_pattern_ops, the number by calls' From and To indexes, the time range by the created_at
 * indexes the listing walks anyway.
 */
const FILTERS: Array<[keyof SessionQuery, (sql: Sql | Tx, q: SessionQuery) => Fragment]> = [
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

const and = (sql: Sql | Tx, parts: Fragment[]): Fragment =>
  parts.length === 0 ? sql`TRUE` : parts.slice(1).reduce((acc, p) => sql`${acc} AND ${p}`, parts[0]!);

/**
 * GET /api/sessions: a keyset page, newest first, and (when asked) how many sessions match in all,
 * in one REPEATABLE READ snapshot so that the page and its total agree. The caller opens it.
 */
export async function listSessions(tx: Tx, q: SessionQuery): Promise<SessionPage> {
  const on = FILTERS.filter(([key]) => q[key] !== undefined);
  const where = on.map(([, f]) => f(tx, q));
  let total: number | undefined;
  if (q.withTotal) {
    // The trigger-kept counters (migrations/postgres/005): no filter, or the state alone, costs nothing.
    if (on.length === 0) total = await sumOfStateCounts(tx);
    else if (on.length === 1 && on[0]![0] === 'state') total = await sumOfStateCounts(tx, q.state);
    else total = (await tx<Array<{ n: number }>>`SELECT count(*) AS n FROM siprec_sessions s WHERE ${and(tx, where)}`)[0]!.n;
  }
  const paged = [...where];
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    if (!c) throw new InvalidCursorError();
    paged.push(tx`(s.created_at, s.id) < (${c.createdAt}::bigint, ${c.id}::bigint)`);
  }
  const rows = await tx<Array<SessionRow & { from_number: string | null; to_number: string | null }>>`SELECT s.*, c.from_number, c.to_number
    FROM siprec_sessions s JOIN calls c ON c.call_sid = s.call_sid
    WHERE ${and(tx, paged)} ORDER BY s.created_at DESC, s.id DESC LIMIT ${q.limit + 1}`;
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  const result: SessionPage = { sessions: page.map(toSessionListItem), nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null };
  if (total !== undefined) result.total = total;
  return result;
}
