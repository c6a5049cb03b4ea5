import type Database from 'better-sqlite3';
import type { HeldAlerts } from '../../alerts/held';
import { createSqliteOutbox } from '../../alerts/sqlite-outbox';
import {
  InvalidCursorError,
  MAX_CALL_IDLE_MS,
  storeUnavailable,
  written,
  type PurgeResult,
  type SessionQuery,
  type Store,
} from '../store';
import {
  decodeCursor,
  encodeCursor,
  toCallView,
  toEventView,
  toSessionListItem,
  toSessionView,
  type CallRow,
  type EventRow,
  type SessionRow,
} from './rows';
import { createStatsQueries } from './stats';
import { inThreadWriter } from './writer';
import { EVENTS_OF_SESSION, PURGE_START, type LedgerWriter, type PurgeKey } from './writes';

const OPEN_STATES = "('requested', 'active')";

function guard<A extends unknown[], R>(what: string, fn: (...args: A) => R): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return fn(...args);
    } catch (err) {
      throw storeUnavailable(what, err);
    }
  };
}

export interface SqliteStoreOptions {
  /** Where writes run: by default on this thread, over `db`; the server passes its writer thread. */
  writer?: LedgerWriter;
  /** Alerts held in memory, kept across a reopen of the ledger file; by default the outbox's own. */
  held?: HeldAlerts;
}

/** Reads run on `db`, on this thread; writes go through the writer. */
export function createSqliteStore(db: Database.Database, options: SqliteStoreOptions = {}): Store {
  const writer = options.writer ?? inThreadWriter(db);

  const callBySid = db.prepare('SELECT * FROM calls WHERE call_sid = ?');
  const routeOfCall = db.prepare('SELECT route_key FROM calls WHERE call_sid = ?');
  const sessionsOfCall = db.prepare('SELECT * FROM siprec_sessions WHERE call_sid = ? ORDER BY id');
  const eventsOfSession = db.prepare(EVENTS_OF_SESSION);
  const openOfCall = db.prepare(
    `SELECT * FROM siprec_sessions WHERE call_sid = ? AND state IN ${OPEN_STATES} AND stop_requested_at IS NULL ORDER BY id`,
  );
  const stats = createStatsQueries(db);
  const listings = new Map<string, Database.Statement>();

  return {
    recordRequested: (call, sessions) => written('recording the call', writer.run('recordRequested', call, sessions)),
    applyEvent: (event, policy) => written('storing the status callback', writer.run('applyEvent', event, policy)),
    recordStarted: (call, session, at) => written('recording the started session', writer.run('recordStarted', call, session, at)),
    markStopRequested: (call, names, at) => written('recording the stop request', writer.run('markStopRequested', call, names, at)),

    // One read transaction: one snapshot, so a commit from the writer thread between the statements
    // cannot show a session beside events it has not been updated for.
    getCall: guard('reading the call', db.transaction((callSid: string) => {
      const call = callBySid.get(callSid) as CallRow | undefined;
      if (!call) return null;
      const sessions = (sessionsOfCall.all(callSid) as SessionRow[]).map((s) => ({
        ...toSessionView(s),
        events: (eventsOfSession.all(s.id) as EventRow[]).map(toEventView),
      }));
      return { call: toCallView(call), sessions };
    })),

    routeOf: guard('reading the call\'s route', (callSid: string) => (routeOfCall.get(callSid) as Pick<CallRow, 'route_key'> | undefined)?.route_key ?? null),

    openSessions: guard('reading open sessions', (callSid: string) =>
      (openOfCall.all(callSid) as SessionRow[]).map(toSessionView),
    ),

    listSessions: guard('listing sessions', (q: SessionQuery) => {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: q.limit + 1 };
      if (q.state) (where.push('s.state = @state'), (params.state = q.state));
      if (q.callSid) (where.push('s.call_sid = @callSid'), (params.callSid = q.callSid));
      if (q.connectorName) (where.push('s.connector_name = @connectorName'), (params.connectorName = q.connectorName));
      if (q.cursor !== undefined) {
        const c = decodeCursor(q.cursor);
        if (!c) throw new InvalidCursorError();
        where.push('(s.created_at, s.id) < (@cursorAt, @cursorId)');
        params.cursorAt = c.createdAt;
        params.cursorId = c.id;
      }
      const sql = `SELECT s.*, c.from_number, c.to_number FROM siprec_sessions s JOIN calls c ON c.call_sid = s.call_sid
           ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY s.created_at DESC, s.id DESC LIMIT @limit`;
      // At most 16 shapes (each filter on or off): prepare each once, not per request.
      let listing = listings.get(sql);
      if (!listing) listings.set(sql, (listing = db.prepare(sql)));
      const rows = listing.all(params) as Array<SessionRow & { from_number: string | null; to_number: string | null }>;
      const page = rows.slice(0, q.limit);
      const last = page.at(-1);
      return { sessions: page.map(toSessionListItem), nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null };
    }),

    getStats: guard('computing stats', db.transaction(stats.getStats)),
    countSessionsByState: guard('counting sessions', stats.countSessionsByState),

    alerts: createSqliteOutbox(db, writer, options.held),

    purgeOlderThan: async (cutoff: number, batchSize = 500, now = Date.now()): Promise<PurgeResult> => {
      const total = { calls: 0, sessions: 0, events: 0, alerts: 0, batches: 0 };
      const staleBefore = Math.min(cutoff, now - MAX_CALL_IDLE_MS);
      // Each batch goes on after the last call the one before deleted: the live calls it passed
      // over stay passed over, rather than being read again by every batch.
      let from: PurgeKey = PURGE_START;
      for (;;) {
        const done = await written('purging old calls', writer.run('purgeBatch', cutoff, staleBefore, batchSize, from));
        if (done.next === null) {
          total.alerts = await written('purging old alerts', writer.run('deleteOldAlerts', cutoff));
          return total;
        }
        from = done.next;
        total.calls += done.calls;
        total.sessions += done.sessions;
        total.events += done.events;
        total.batches += 1;
      }
    },

    ping: () => written('pinging the database', writer.run('ping', Date.now())),
    close: async () => {
      // Let writes already accepted reach their commit before the handle goes.
      await writer.close();
      if (db.open) db.close();
    },
  };
}
