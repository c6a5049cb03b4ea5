import type Database from 'better-sqlite3';
import { alertWrites, outboxWrites } from './outbox';
import type { AlertPolicy } from '../../alerts/types';
import { deriveSession } from '../../domain/sessions';
import type { ApplyResult, IncomingEvent, NewCall, NewSession } from '../store';
import { toSessionView, type EventRow, type SessionRow } from '../rows';
import { startReservations } from './start-reservations';

export const EVENTS_OF_SESSION = 'SELECT * FROM siprec_events WHERE session_id = ? ORDER BY id';

const NOT_STARTED = { state: 'requested', startedAt: null, stoppedAt: null, errorCode: null, errorMessage: null } as const;

/** Thrown inside a transaction to roll back what it made for a repeat; caught as 'duplicate'. */
class DuplicateEvent extends Error {}

/**
 * Calls the purge may delete, oldest activity first, after the keyset (@afterAt, @afterSid): idle
 * since before @cutoff, and with no requested or active session unless idle since before
 * @staleBefore (longer than a call can last). Walks calls_last_activity (migrations/sqlite/007).
 */
export const PURGEABLE_CALLS = `SELECT c.call_sid, c.last_activity_at FROM calls c
  WHERE c.last_activity_at < @cutoff AND (c.last_activity_at, c.call_sid) > (@afterAt, @afterSid)
    AND (c.last_activity_at < @staleBefore
      OR NOT EXISTS (SELECT 1 FROM siprec_sessions s WHERE s.call_sid = c.call_sid AND s.state IN ('requested', 'active')))
  ORDER BY c.last_activity_at, c.call_sid LIMIT @limit`;

/** Where a purge has got to: the last call it deleted, in PURGEABLE_CALLS' order. */
export interface PurgeKey {
  afterAt: number;
  afterSid: string;
}
export const PURGE_START: PurgeKey = { afterAt: Number.MIN_SAFE_INTEGER, afterSid: '' };

/**
 * Every write the ledger makes, each a better-sqlite3 transaction function whose arguments and
 * result are plain data. Named operations rather than closures, so that the same writes run on
 * the request thread (tests, the CLI) or on the writer thread (the server), where a commit's
 * fsync never blocks the event loop.
 */
export function ledgerWrites(db: Database.Database) {
  const insertCall = db.prepare(`INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at, route_key, last_activity_at)
    VALUES (@callSid, @accountSid, @from, @to, @direction, @receivedAt, @route, @receivedAt)
    ON CONFLICT (call_sid) DO UPDATE SET
      from_number = coalesce(calls.from_number, excluded.from_number),
      to_number = coalesce(calls.to_number, excluded.to_number),
      direction = coalesce(calls.direction, excluded.direction),
      route_key = coalesce(calls.route_key, excluded.route_key),
      last_activity_at = max(coalesce(calls.last_activity_at, 0), excluded.last_activity_at)`);
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
  // Never steal a SID another session already holds: that would fail the whole callback.
  const setSid = db.prepare(`UPDATE siprec_sessions SET siprec_sid = @sid WHERE id = @id AND siprec_sid IS NULL
    AND NOT EXISTS (SELECT 1 FROM siprec_sessions WHERE siprec_sid = @sid)`);
  const insertEvent = db.prepare(`INSERT INTO siprec_events
      (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, error_code, error_message, payload)
    VALUES (@sessionId, @siprecSid, @event, @timestampRaw, @occurredAt, @receivedAt, @errorCode, @errorMessage, @payload)
    ON CONFLICT (siprec_sid, event, timestamp_raw) DO NOTHING`);
  const eventsOfSession = db.prepare(EVENTS_OF_SESSION);
  const updateDerived = db.prepare(`UPDATE siprec_sessions SET state = @state, started_at = @startedAt,
    stopped_at = @stoppedAt, error_code = @errorCode, error_message = @errorMessage, updated_at = @at WHERE id = @id`);
  const setStopRequested = db.prepare(
    'UPDATE siprec_sessions SET stop_requested_at = coalesce(stop_requested_at, @at), updated_at = @at WHERE call_sid = @callSid AND name = @name',
  );
  const beat = db.prepare('INSERT INTO readiness (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at');
  const purgeable = db.prepare(PURGEABLE_CALLS);
  const sessionsOfCall = db.prepare('SELECT count(*) AS n FROM siprec_sessions WHERE call_sid = ?');
  const eventsOfCall = db.prepare('SELECT count(*) AS n FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id WHERE s.call_sid = ?');
  const deleteCall = db.prepare('DELETE FROM calls WHERE call_sid = ?');
  const deleteOldAlertRows = db.prepare(`DELETE FROM alert_outbox WHERE occurred_at < ? AND state NOT IN ('pending', 'retrying')`);
  const alerts = alertWrites(db);

  const ensureCall = (call: NewCall) => insertCall.run({ ...call, route: call.route ?? null });

  const recordRequested = db.transaction((call: NewCall, sessions: NewSession[]): void => {
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

  // A session first heard of outside the voice webhook: from a status callback, or a stop request.
  const createSession = db.prepare(`INSERT INTO siprec_sessions
      (call_sid, name, siprec_sid, state, started_at, stopped_at, error_code, error_message, created_at, updated_at)
    VALUES (@callSid, @name, @siprecSid, @state, @startedAt, @stoppedAt, @errorCode, @errorMessage, @at, @at) RETURNING *`);

  const factOf = (r: EventRow) => ({
    event: r.event,
    timestampRaw: r.timestamp_raw,
    occurredAt: r.occurred_at,
    receivedAt: r.received_at,
    errorCode: r.error_code,
    errorMessage: r.error_message,
  });
  const storeEvent = (e: IncomingEvent, sessionId: number): boolean =>
    insertEvent.run({
      sessionId,
      siprecSid: e.siprecSid,
      event: e.event,
      timestampRaw: e.timestampRaw,
      occurredAt: e.occurredAt,
      receivedAt: e.receivedAt,
      errorCode: e.errorCode,
      errorMessage: e.errorMessage,
      payload: JSON.stringify(e.payload),
    }).changes > 0;
  const raiseAlerts = (e: IncomingEvent, session: SessionRow, policy?: AlertPolicy) => {
    if (!policy || e.event !== 'siprec-error') return;
    // Inside this transaction: if the alert cannot be written, neither is the event, and Twilio retries.
    alerts.onErrorEvent(
      { callSid: session.call_sid, sessionName: session.name, connectorName: session.connector_name, errorCode: e.errorCode, errorMessage: e.errorMessage, at: e.receivedAt },
      policy,
    );
  };

  // A session first heard of through this callback (started by other tooling, or our voice write
  // failed): it is born with the state its one event gives it, so there is nothing to re-derive.
  const applyToNewSession = db.transaction((e: IncomingEvent, policy?: AlertPolicy) => {
    ensureCall({ callSid: e.callSid, accountSid: e.accountSid, from: null, to: null, direction: null, receivedAt: e.receivedAt });
    const derived = deriveSession([e]);
    const session = createSession.get({ callSid: e.callSid, name: e.siprecName, siprecSid: e.siprecSid, ...derived, at: e.receivedAt }) as SessionRow;
    // The same SID, event and Timestamp filed under another session: a repeat; roll back what we made.
    if (!storeEvent(e, session.id)) throw new DuplicateEvent();
    raiseAlerts(e, session, policy);
  });

  const applyEvent = db.transaction((e: IncomingEvent, policy?: AlertPolicy): ApplyResult => {
    const named = sessionByName.get(e.callSid, e.siprecName) as SessionRow | undefined;
    // The SID is Twilio's identity of a session: a name already holding another SID is another
    // session (two started under one name), never merged into it. It is filed under its SID.
    const apart = named !== undefined && named.siprec_sid !== null && named.siprec_sid !== e.siprecSid;
    const stored = apart ? 'stored-apart' : 'stored';
    let session = named?.siprec_sid === e.siprecSid ? named : (sessionBySid.get(e.siprecSid) as SessionRow | undefined);
    if (!session) {
      const name = apart ? e.siprecSid : e.siprecName;
      const unclaimed = apart ? (sessionByName.get(e.callSid, name) as SessionRow | undefined) : named;
      if (unclaimed?.siprec_sid === null) {
        setSid.run({ sid: e.siprecSid, id: unclaimed.id });
        session = unclaimed;
      } else {
        try {
          applyToNewSession({ ...e, siprecName: name }, policy);
          return stored;
        } catch (err) {
          if (err instanceof DuplicateEvent) return 'duplicate';
          throw err;
        }
      }
    }
    if (!storeEvent(e, session.id)) return 'duplicate';
    const facts = (eventsOfSession.all(session.id) as EventRow[]).map(factOf);
    updateDerived.run({ ...deriveSession(facts), id: session.id, at: e.receivedAt });
    raiseAlerts(e, session, policy);
    return stored;
  });

  const markStopRequested = db.transaction((call: NewCall, names: string[], at: number) => {
    ensureCall(call);
    return names.map((name) => {
      if (!sessionByName.get(call.callSid, name)) createSession.get({ callSid: call.callSid, name, siprecSid: null, ...NOT_STARTED, at });
      setStopRequested.run({ at, callSid: call.callSid, name });
      return toSessionView(sessionByName.get(call.callSid, name) as SessionRow);
    });
  });

  const recordStarted = db.transaction((call: NewCall, session: NewSession, at: number) => {
    recordRequested({ ...call, receivedAt: at }, [session]);
    return toSessionView(sessionByName.get(call.callSid, session.name) as SessionRow);
  });

  // One transaction per batch: a callback committed before it has made its call young (or its
  // session open) and is not deleted; one after it finds the batch done. Sessions and events go
  // with their call through ON DELETE CASCADE.
  const purgeBatch = db.transaction((cutoff: number, staleBefore: number, limit: number, from: PurgeKey) => {
    const rows = purgeable.all({ cutoff, staleBefore, limit, ...from }) as Array<{ call_sid: string; last_activity_at: number }>;
    let sessions = 0;
    let events = 0;
    for (const r of rows) {
      sessions += (sessionsOfCall.get(r.call_sid) as { n: number }).n;
      events += (eventsOfCall.get(r.call_sid) as { n: number }).n;
      deleteCall.run(r.call_sid);
    }
    const last = rows.at(-1);
    const next: PurgeKey | null = last ? { afterAt: last.last_activity_at, afterSid: last.call_sid } : null;
    return { calls: rows.length, sessions, events, next };
  });

  // Alerts name calls and carry error text: they age out too, once no longer waiting for delivery.
  const deleteOldAlerts = db.transaction((cutoff: number): number => deleteOldAlertRows.run(cutoff).changes);

  // A real commit, as every acknowledged write needs: a full disk or read-only files fail here.
  const ping = db.transaction((at: number): void => {
    beat.run(at);
  });

  return {
    recordRequested,
    applyEvent,
    markStopRequested,
    recordStarted,
    ...startReservations(db, recordRequested),
    purgeBatch,
    deleteOldAlerts,
    ping,
    ...outboxWrites(db),
  };
}

export type LedgerWrites = ReturnType<typeof ledgerWrites>;
export type WriteOp = keyof LedgerWrites;

/** Runs named ledger writes, each acknowledged only after the commit that holds it. */
export interface LedgerWriter {
  run<K extends WriteOp>(op: K, ...args: Parameters<LedgerWrites[K]>): Promise<ReturnType<LedgerWrites[K]>>;
  /** Lets writes already accepted reach their commit, then stops. */
  close(): Promise<void>;
}
