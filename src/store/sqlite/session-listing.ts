import type Database from 'better-sqlite3';
import { InvalidCursorError, likePrefix, type SessionPage, type SessionQuery } from '../store';
import { decodeCursor, encodeCursor, toSessionListItem, type SessionRow } from '../rows';


type Filter = { sql: string; bind(q: SessionQuery): Record<string, unknown> };

/**
 * Each filter's condition on `s` (siprec_sessions) and what it binds. Every one is served by an index
 * (migrations 001 and 008): the prefix by the NOCASE connector index (SQLite's LIKE optimization
 * needs the column's index in NOCASE for a case-insensitive LIKE), the number by calls' From and
 * To indexes, the time range by the created_at indexes the listing walks anyway.
 */
const FILTERS: Array<[keyof SessionQuery, Filter]> = [
  ['state', { sql: 's.state = @state', bind: (q) => ({ state: q.state }) }],
  ['callSid', { sql: 's.call_sid = @callSid', bind: (q) => ({ callSid: q.callSid }) }],
  ['connectorName', { sql: 's.connector_name = @connectorName', bind: (q) => ({ connectorName: q.connectorName }) }],
  ['connectorPrefix', { sql: "s.connector_name LIKE @connectorLike ESCAPE '\\'", bind: (q) => ({ connectorLike: likePrefix(q.connectorPrefix!) }) }],
  ['siprecSid', { sql: 's.siprec_sid = @siprecSid', bind: (q) => ({ siprecSid: q.siprecSid }) }],
  [
    'phone',
    {
      sql: 's.call_sid IN (SELECT call_sid FROM calls WHERE from_number = @phone UNION SELECT call_sid FROM calls WHERE to_number = @phone)',
      bind: (q) => ({ phone: q.phone }),
    },
  ],
  ['since', { sql: 's.created_at >= @since', bind: (q) => ({ since: q.since }) }],
  ['until', { sql: 's.created_at < @until', bind: (q) => ({ until: q.until }) }],
];

/** GET /api/sessions: a keyset page, newest first, and (when asked) how many sessions match in all. */
export function createSessionListing(db: Database.Database) {
  // One statement per shape (which filters are on), prepared on first use, not per request.
  const prepared = new Map<string, Database.Statement>();
  const statement = (sql: string) => {
    let stmt = prepared.get(sql);
    if (!stmt) prepared.set(sql, (stmt = db.prepare(sql)));
    return stmt;
  };
  // Counts the triggers keep (migrations/sqlite/005): no filter, or the state alone, costs nothing to count.
  const countAll = db.prepare(`SELECT sum(n) AS n FROM session_state_counts WHERE state IN ('requested', 'active', 'failed', 'stopped')`);
  const countState = db.prepare('SELECT n FROM session_state_counts WHERE state = ?');

  function total(q: SessionQuery, where: string[], params: Record<string, unknown>): number {
    const on = FILTERS.filter(([key]) => q[key] !== undefined).map(([key]) => key);
    if (on.length === 0) return (countAll.get() as { n: number | null }).n ?? 0;
    if (on.length === 1 && on[0] === 'state') return (countState.get(q.state) as { n: number } | undefined)?.n ?? 0;
    const row = statement(`SELECT count(*) AS n FROM siprec_sessions s WHERE ${where.join(' AND ')}`).get(params) as { n: number };
    return row.n;
  }

  // One read transaction: the page and its total come from the same snapshot.
  const listSessions = db.transaction((q: SessionQuery): SessionPage => {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    for (const [key, filter] of FILTERS) {
      if (q[key] === undefined) continue;
      where.push(filter.sql);
      Object.assign(params, filter.bind(q));
    }
    const counted = q.withTotal ? total(q, where, params) : undefined;

    const paged = [...where];
    const pageParams: Record<string, unknown> = { ...params, limit: q.limit + 1 };
    if (q.cursor !== undefined) {
      const c = decodeCursor(q.cursor);
      if (!c) throw new InvalidCursorError();
      paged.push('(s.created_at, s.id) < (@cursorAt, @cursorId)');
      pageParams.cursorAt = c.createdAt;
      pageParams.cursorId = c.id;
    }
    const sql = `SELECT s.*, c.from_number, c.to_number FROM siprec_sessions s JOIN calls c ON c.call_sid = s.call_sid
         ${paged.length ? `WHERE ${paged.join(' AND ')}` : ''} ORDER BY s.created_at DESC, s.id DESC LIMIT @limit`;
    const rows = statement(sql).all(pageParams) as Array<SessionRow & { from_number: string | null; to_number: string | null }>;
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    const result: SessionPage = { sessions: page.map(toSessionListItem), nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null };
    if (counted !== undefined) result.total = counted;
    return result;
  });

  return { listSessions };
}
