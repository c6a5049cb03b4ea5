import type { AlertPolicy } from '../../alerts/types';
import { deriveSession, type DerivedSession } from '../../domain/sessions';
import type { ApplyResult, IncomingEvent, NewCall, NewSession, SessionView } from '../store';
import { toSessionView, type EventRow, type SessionRow } from '../rows';
import { Rollback, type Tx } from './connection';
import { raiseErrorAlerts } from './alert-writes';

/**
 * The ledger's writes, each the body of one READ COMMITTED transaction. SQLite runs its writes one at
 * a time; here several instances write at once, so what SQLite got from its single writer is made
 * explicit: every write that touches a call first upserts the call's row (upsertCall), which locks
 * that row until commit. All writes of one call (its voice webhook, its callbacks, REST starts and
 * stops) so run one after the other across instances, and each statement after the upsert sees
 * what the one before it committed: a callback arriving before the voice webhook's commit, two
 * instances given the same callback, events of one session in any order.
 */

/**
 * The call's row, created or updated, and locked until commit. Known fields are kept (coalesce);
 * `activity` is the write's time, for retention (last_activity_at only moves forward).
 */
export async function upsertCall(tx: Tx, call: NewCall, activity = call.receivedAt): Promise<void> {
  await tx`INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at, route_key, last_activity_at)
    VALUES (${call.callSid}, ${call.accountSid}, ${call.from}, ${call.to}, ${call.direction}, ${call.receivedAt}, ${call.route ?? null}, ${activity})
    ON CONFLICT (call_sid) DO UPDATE SET
      from_number = coalesce(calls.from_number, excluded.from_number),
      to_number = coalesce(calls.to_number, excluded.to_number),
      direction = coalesce(calls.direction, excluded.direction),
      route_key = coalesce(calls.route_key, excluded.route_key),
      last_activity_at = greatest(calls.last_activity_at, excluded.last_activity_at)`;
}

export async function insertSessions(tx: Tx, callSid: string, sessions: NewSession[], at: number): Promise<void> {
  for (const s of sessions) {
    await tx`INSERT INTO siprec_sessions (call_sid, name, siprec_sid, connector_name, track, parameters, state, requested_at, created_at, updated_at)
      VALUES (${callSid}, ${s.name}, ${s.siprecSid ?? null}, ${s.connectorName}, ${s.track}, ${JSON.stringify(s.parameters)}, 'requested', ${at}, ${at}, ${at})
      ON CONFLICT (call_sid, name) DO UPDATE SET
        siprec_sid = coalesce(siprec_sessions.siprec_sid, excluded.siprec_sid),
        connector_name = coalesce(siprec_sessions.connector_name, excluded.connector_name),
        track = coalesce(siprec_sessions.track, excluded.track),
        parameters = coalesce(siprec_sessions.parameters, excluded.parameters),
        requested_at = coalesce(siprec_sessions.requested_at, excluded.requested_at)`;
  }
}

export async function recordRequested(tx: Tx, call: NewCall, sessions: NewSession[]): Promise<void> {
  await upsertCall(tx, call);
  await insertSessions(tx, call.callSid, sessions, call.receivedAt);
}

export const sessionByName = async (tx: Tx, callSid: string, name: string): Promise<SessionRow | undefined> =>
  (await tx<SessionRow[]>`SELECT * FROM siprec_sessions WHERE call_sid = ${callSid} AND name = ${name}`)[0];

const NOT_STARTED: DerivedSession = { state: 'requested', startedAt: null, stoppedAt: null, errorCode: null, errorMessage: null };

/** A session first heard of outside the voice webhook: from a status callback, or a stop request. */
async function createSession(tx: Tx, callSid: string, name: string, siprecSid: string | null, d: DerivedSession, at: number): Promise<SessionRow> {
  const [row] = await tx<SessionRow[]>`INSERT INTO siprec_sessions
      (call_sid, name, siprec_sid, state, started_at, stopped_at, error_code, error_message, created_at, updated_at)
    VALUES (${callSid}, ${name}, ${siprecSid}, ${d.state}, ${d.startedAt}, ${d.stoppedAt}, ${d.errorCode}, ${d.errorMessage}, ${at}, ${at})
    RETURNING *`;
  return row!;
}

const insertEvent = (tx: Tx, e: IncomingEvent, sessionId: number) => tx`INSERT INTO siprec_events
    (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, error_code, error_message, payload)
  VALUES (${sessionId}, ${e.siprecSid}, ${e.event}, ${e.timestampRaw}, ${e.occurredAt}, ${e.receivedAt}, ${e.errorCode}, ${e.errorMessage}, ${JSON.stringify(e.payload)})
  ON CONFLICT (siprec_sid, event, timestamp_raw) DO NOTHING RETURNING *`;

/** Stores the event unless its (SID, event, Timestamp) is stored already; true when stored. */
async function storeEvent(tx: Tx, e: IncomingEvent, sessionId: number): Promise<boolean> {
  return (await tx`WITH added AS (${insertEvent(tx, e, sessionId)}) SELECT 1 FROM added`).length > 0;
}

/**
 * Stores the event and reads back every event of its session, in one round trip; null when the event
 * was stored already. The SELECT's snapshot predates the INSERT (one statement), hence the UNION; it
 * misses no other event of the session, as those are written under the same call's row lock.
 */
async function storeEventAndRead(tx: Tx, e: IncomingEvent, sessionId: number): Promise<EventRow[] | null> {
  const rows = await tx<Array<EventRow & { added: boolean }>>`WITH added AS (${insertEvent(tx, e, sessionId)})
    SELECT *, true AS added FROM added
    UNION ALL SELECT *, false AS added FROM siprec_events WHERE session_id = ${sessionId} AND EXISTS (SELECT 1 FROM added)`;
  return rows.some((r) => r.added) ? rows : null;
}

const factOf = (r: EventRow) => ({
  event: r.event,
  timestampRaw: r.timestamp_raw,
  occurredAt: r.occurred_at,
  receivedAt: r.received_at,
  errorCode: r.error_code,
  errorMessage: r.error_message,
});

const DUPLICATE = new Rollback<ApplyResult>('duplicate');

/**
 * The status callback, as SQLite's applyEvent (store/sqlite/writes.ts), with the call's row locked
 * first. A repeat rolls back, so that it leaves no trace (not even the call's activity).
 */
export async function applyEvent(tx: Tx, e: IncomingEvent, policy?: AlertPolicy): Promise<ApplyResult> {
  await upsertCall(tx, { callSid: e.callSid, accountSid: e.accountSid, from: null, to: null, direction: null, receivedAt: e.receivedAt });
  // The session of that name on the call, and the one holding that SID, in one round trip.
  const candidates = await tx<SessionRow[]>`SELECT * FROM siprec_sessions
    WHERE (call_sid = ${e.callSid} AND name = ${e.siprecName}) OR siprec_sid = ${e.siprecSid}`;
  const named = candidates.find((s) => s.call_sid === e.callSid && s.name === e.siprecName);
  // The SID is Twilio's identity of a session: a name already holding another SID is another
  // session (two started under one name), never merged into it. It is filed under its SID.
  const apart = named !== undefined && named.siprec_sid !== null && named.siprec_sid !== e.siprecSid;
  const stored: ApplyResult = apart ? 'stored-apart' : 'stored';
  let session = named?.siprec_sid === e.siprecSid ? named : candidates.find((s) => s.siprec_sid === e.siprecSid);
  if (!session) {
    const name = apart ? e.siprecSid : e.siprecName;
    const unclaimed = apart ? await sessionByName(tx, e.callSid, name) : named;
    if (unclaimed?.siprec_sid === null) {
      // Never steal a SID another session already holds: that would fail the whole callback.
      await tx`UPDATE siprec_sessions SET siprec_sid = ${e.siprecSid} WHERE id = ${unclaimed.id} AND siprec_sid IS NULL
        AND NOT EXISTS (SELECT 1 FROM siprec_sessions WHERE siprec_sid = ${e.siprecSid})`;
      session = unclaimed;
    } else {
      // Born with the state its one event gives it: nothing to re-derive.
      const created = await createSession(tx, e.callSid, name, e.siprecSid, deriveSession([e]), e.receivedAt);
      // The same SID, event and Timestamp filed under another session: a repeat.
      if (!(await storeEvent(tx, e, created.id))) throw DUPLICATE;
      await raiseErrorAlerts(tx, e, created, policy);
      return stored;
    }
  }
  const events = await storeEventAndRead(tx, e, session.id);
  if (!events) throw DUPLICATE;
  const d = deriveSession(events.map(factOf));
  await tx`UPDATE siprec_sessions SET state = ${d.state}, started_at = ${d.startedAt}, stopped_at = ${d.stoppedAt},
    error_code = ${d.errorCode}, error_message = ${d.errorMessage}, updated_at = ${e.receivedAt} WHERE id = ${session.id}`;
  await raiseErrorAlerts(tx, e, session, policy);
  return stored;
}

export async function markStopRequested(tx: Tx, call: NewCall, names: string[], at: number): Promise<SessionView[]> {
  // SQLite's triggers move the call's activity to `at` once a session is touched.
  await upsertCall(tx, call, names.length > 0 ? Math.max(call.receivedAt, at) : call.receivedAt);
  const views: SessionView[] = [];
  for (const name of names) {
    if (!(await sessionByName(tx, call.callSid, name))) await createSession(tx, call.callSid, name, null, NOT_STARTED, at);
    const [row] = await tx<SessionRow[]>`UPDATE siprec_sessions SET stop_requested_at = coalesce(stop_requested_at, ${at}), updated_at = ${at}
      WHERE call_sid = ${call.callSid} AND name = ${name} RETURNING *`;
    views.push(toSessionView(row!));
  }
  return views;
}

export async function recordStarted(tx: Tx, call: NewCall, session: NewSession, at: number): Promise<SessionView> {
  await recordRequested(tx, { ...call, receivedAt: at }, [session]);
  return toSessionView((await sessionByName(tx, call.callSid, session.name))!);
}
