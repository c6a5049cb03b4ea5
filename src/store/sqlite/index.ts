import type Database from 'better-sqlite3';
import type { HeldAlerts } from '../../alerts/held';
import { createSqliteOutbox } from './outbox';
import {
  MAX_CALL_IDLE_MS,
  storeUnavailable,
  written,
  type PurgeResult,
  type Store,
} from '../store';
import {
  toCallView,
  toEventView,
  toSessionView,
  type CallRow,
  type EventRow,
  type SessionRow,
} from '../rows';
import { createOperatorViews } from './operator-views';
import { createSessionListing } from './session-listing';
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
  const listing = createSessionListing(db);
  const views = createOperatorViews(db);

  return {
    recordRequested: (call, sessions) => written('recording the call', writer.run('recordRequested', call, sessions)),
    applyEvent: (event, policy) => written('storing the status callback', writer.run('applyEvent', event, policy)),
    reserveStart: (call, session, maxOpen) => written('reserving the start', writer.run('reserveStart', call, session, maxOpen)),
    releaseStart: (reservation) => written('releasing the start', writer.run('releaseStart', reservation)),
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

    listSessions: guard('listing sessions', listing.listSessions),
    connectorSummary: guard('summarising connectors', views.connectorSummary),
    stuckRequested: guard('counting stuck sessions', views.stuckRequested),

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
