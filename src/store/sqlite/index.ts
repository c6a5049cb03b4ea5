import type Database from 'better-sqlite3';
import { alertWrites, createSqliteOutbox } from '../../alerts/sqlite-outbox';
import type { AlertPolicy } from '../../alerts/types';
import { deriveSession } from '../../domain/sessions';
import {
  InvalidCursorError,
  StoreUnavailableError,
  type IncomingEvent,
  type NewCall,
  type NewSession,
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
import { createGroupCommit, type GroupCommitOptions } from './group-commit';
import { createStatsQueries } from './stats';

const OPEN_STATES = "('requested', 'active')";

/** Any failure to read or commit means the ledger cannot promise anything: callers answer 503. */
function unavailable(what: string, err: unknown): unknown {
  if (err instanceof InvalidCursorError) return err;
  return new StoreUnavailableError(`${what} failed: ${(err as Error).message}`, { cause: err });
}

function guard<A extends unknown[], R>(what: string, fn: (...args: A) => R): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return fn(...args);
    } catch (err) {
      throw unavailable(what, err);
    }
  };
}

export function createSqliteStore(db: Database.Database, options: GroupCommitOptions = {}): Store {
  const writes = createGroupCommit(db, options);
  const write = <A extends unknown[], R>(what: string, fn: (...args: A) => R) =>
    (...args: A): Promise<R> => writes.run(() => fn(...args)).catch((err) => Promise.reject(unavailable(what, err)));

  const insertCall = db.prepare(`INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at)
    VALUES (@callSid, @accountSid, @from, @to, @direction, @receivedAt)
    ON CONFLICT (call_sid) DO UPDATE SET
      from_number = coalesce(calls.from_number, excluded.from_number),
      to_number = coalesce(calls.to_number, excluded.to_number),
      direction = coalesce(calls.direction, excluded.direction)`);
  const insertSession = db.prepare(`INSERT INTO siprec_sessions
      (call_sid, name, siprec_sid, connector_name, track, parameters, state, requested_at, created_at, updated_at)
    VALUES (@callSid, @name, @siprecSid, @connectorName, @track, @parameters, 'requested', @at, @at, @at)
    ON CONFLICT (call_sid, name) DO UPDATE SET
      siprec_sid = coalesce(siprec_sessions.siprec_sid, excluded.siprec_sid),
      connector_name = coalesce(siprec_sessions.connector_name, excluded.connector_name),
      track = coalesce(siprec_sessions.track, excluded.track),
      parameters = coalesce(siprec_sessions.parameters, excluded.parameters),
      requested_at = coalesce(siprec_sessions.requested_at, excluded.requested_at)`);
  const sessionByName = db.prepare('SELECT * FROM siprec_sessions WHERE call_sid = ? AND name = ?');
  const sessionBySid = db.prepare('SELECT * FROM siprec_sessions WHERE siprec_sid = ?');
  const createBareSession = db.prepare(`INSERT INTO siprec_sessions (call_sid, name, siprec_sid, state, created_at, updated_at)
    VALUES (?, ?, ?, 'requested', ?, ?)`);
  // Never steal a SID another session already holds: that would fail the whole callback.
  const setSid = db.prepare(`UPDATE siprec_sessions SET siprec_sid = @sid WHERE id = @id AND siprec_sid IS NULL
    AND NOT EXISTS (SELECT 1 FROM siprec_sessions WHERE siprec_sid = @sid)`);
  const insertEvent = db.prepare(`INSERT INTO siprec_events
      (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, error_code, error_message, payload)
    VALUES (@sessionId, @siprecSid, @event, @timestampRaw, @occurredAt, @receivedAt, @errorCode, @errorMessage, @payload)
    ON CONFLICT (siprec_sid, event, timestamp_raw) DO NOTHING`);
  const eventsOfSession = db.prepare('SELECT * FROM siprec_events WHERE session_id = ? ORDER BY id');
  const updateDerived = db.prepare(`UPDATE siprec_sessions SET state = @state, started_at = @startedAt,
    stopped_at = @stoppedAt, error_code = @errorCode, error_message = @errorMessage, updated_at = @at WHERE id = @id`);
  const callBySid = db.prepare('SELECT * FROM calls WHERE call_sid = ?');
  const sessionsOfCall = db.prepare('SELECT * FROM siprec_sessions WHERE call_sid = ? ORDER BY id');
  const openOfCall = db.prepare(
    `SELECT * FROM siprec_sessions WHERE call_sid = ? AND state IN ${OPEN_STATES} AND stop_requested_at IS NULL ORDER BY id`,
  );
  const setStopRequested = db.prepare(
    'UPDATE siprec_sessions SET stop_requested_at = coalesce(stop_requested_at, @at), updated_at = @at WHERE call_sid = @callSid AND name = @name',
  );

  const ensureCall = (call: NewCall) => insertCall.run(call);
  const beat = db.prepare('INSERT INTO readiness (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at');
  const alerts = alertWrites(db);
  const stats = createStatsQueries(db);
  const listings = new Map<string, Database.Statement>();

  const OLDEST = 'SELECT call_sid FROM calls WHERE created_at < @cutoff ORDER BY created_at, call_sid LIMIT @limit';
  const countOldSessions = db.prepare(`SELECT count(*) AS n FROM siprec_sessions WHERE call_sid IN (${OLDEST})`);
  const countOldEvents = db.prepare(
    `SELECT count(*) AS n FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id WHERE s.call_sid IN (${OLDEST})`,
  );
  const deleteOldCalls = db.prepare(`DELETE FROM calls WHERE call_sid IN (${OLDEST})`);
  // Alerts name calls and carry error text: they age out too, once no longer waiting for delivery.
  const deleteOldAlerts = db.transaction(
    (cutoff: number) =>
      db.prepare(`DELETE FROM alert_outbox WHERE occurred_at < ? AND state NOT IN ('pending', 'retrying')`).run(cutoff).changes,
  );
  // Sessions and events go with their call through ON DELETE CASCADE.
  const purgeBatch = db.transaction((cutoff: number, limit: number) => {
    const sessions = (countOldSessions.get({ cutoff, limit }) as { n: number }).n;
    const events = (countOldEvents.get({ cutoff, limit }) as { n: number }).n;
    const calls = deleteOldCalls.run({ cutoff, limit }).changes;
    return { calls, sessions, events };
  });

  const recordRequested = db.transaction((call: NewCall, sessions: NewSession[]) => {
    ensureCall(call);
    for (const s of sessions) {
      insertSession.run({
        callSid: call.callSid,
        name: s.name,
        siprecSid: s.siprecSid ?? null,
        connectorName: s.connectorName,
        track: s.track,
        parameters: JSON.stringify(s.parameters),
        at: call.receivedAt,
      });
    }
  });

  const findOrCreateSession = (e: IncomingEvent): SessionRow => {
    const byName = sessionByName.get(e.callSid, e.siprecName) as SessionRow | undefined;
    if (byName) {
      setSid.run({ sid: e.siprecSid, id: byName.id });
      return byName;
    }
    const bySid = sessionBySid.get(e.siprecSid) as SessionRow | undefined;
    if (bySid) return bySid;
    // Started by other tooling (or our voice write failed): record it all the same.
    ensureCall({ callSid: e.callSid, accountSid: e.accountSid, from: null, to: null, direction: null, receivedAt: e.receivedAt });
    createBareSession.run(e.callSid, e.siprecName, e.siprecSid, e.receivedAt, e.receivedAt);
    return sessionBySid.get(e.siprecSid) as SessionRow;
  };

  const applyEvent = db.transaction((e: IncomingEvent, policy?: AlertPolicy) => {
    const session = findOrCreateSession(e);
    const inserted = insertEvent.run({
      sessionId: session.id,
      siprecSid: e.siprecSid,
      event: e.event,
      timestampRaw: e.timestampRaw,
      occurredAt: e.occurredAt,
      receivedAt: e.receivedAt,
      errorCode: e.errorCode,
      errorMessage: e.errorMessage,
      payload: JSON.stringify(e.payload),
    });
    if (inserted.changes === 0) return 'duplicate' as const;
    const facts = (eventsOfSession.all(session.id) as EventRow[]).map((r) => ({
      event: r.event,
      timestampRaw: r.timestamp_raw,
      occurredAt: r.occurred_at,
      receivedAt: r.received_at,
      errorCode: r.error_code,
      errorMessage: r.error_message,
    }));
    updateDerived.run({ ...deriveSession(facts), id: session.id, at: e.receivedAt });
    if (policy && e.event === 'siprec-error') {
      // Inside this transaction: if the alert cannot be written, neither is the event, and Twilio retries.
      alerts.onErrorEvent(
        { callSid: session.call_sid, sessionName: session.name, connectorName: session.connector_name, errorCode: e.errorCode, errorMessage: e.errorMessage, at: e.receivedAt },
        policy,
      );
    }
    return 'stored' as const;
  });

  const markStopRequested = db.transaction((call: NewCall, names: string[], at: number) => {
    ensureCall(call);
    return names.map((name) => {
      if (!sessionByName.get(call.callSid, name)) createBareSession.run(call.callSid, name, null, at, at);
      setStopRequested.run({ at, callSid: call.callSid, name });
      return toSessionView(sessionByName.get(call.callSid, name) as SessionRow);
    });
  });

  const recordStarted = db.transaction((call: NewCall, session: NewSession, at: number) => {
    recordRequested({ ...call, receivedAt: at }, [session]);
    return toSessionView(sessionByName.get(call.callSid, session.name) as SessionRow);
  });

  return {
    recordRequested: write('recording the call', (call: NewCall, sessions: NewSession[]) => {
      recordRequested(call, sessions);
    }),
    applyEvent: write('storing the status callback', applyEvent),
    recordStarted: write('recording the started session', recordStarted),
    markStopRequested: write('recording the stop request', markStopRequested),

    getCall: guard('reading the call', (callSid: string) => {
      const call = callBySid.get(callSid) as CallRow | undefined;
      if (!call) return null;
      const sessions = (sessionsOfCall.all(callSid) as SessionRow[]).map((s) => ({
        ...toSessionView(s),
        events: (eventsOfSession.all(s.id) as EventRow[]).map(toEventView),
      }));
      return { call: toCallView(call), sessions };
    }),

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

    getStats: guard('computing stats', stats.getStats),
    countSessionsByState: guard('counting sessions', stats.countSessionsByState),

    alerts: createSqliteOutbox(db, (work) => writes.run(work)),

    purgeOlderThan: async (cutoff: number, batchSize = 500): Promise<PurgeResult> => {
      const total = { calls: 0, sessions: 0, events: 0, alerts: 0, batches: 0 };
      for (;;) {
        const done = await write('purging old calls', purgeBatch)(cutoff, batchSize);
        if (done.calls === 0) {
          total.alerts = await write('purging old alerts', deleteOldAlerts)(cutoff);
          return total;
        }
        total.calls += done.calls;
        total.sessions += done.sessions;
        total.events += done.events;
        total.batches += 1;
      }
    },

    // A real commit, as every acknowledged write needs: a full disk or read-only files fail here.
    ping: write('pinging the database', () => {
      beat.run(Date.now());
    }),
    close: async () => {
      // Let writes already accepted reach their commit before the handle goes.
      await writes.run(() => undefined).catch(() => undefined);
      if (db.open) db.close();
    },
  };
}
