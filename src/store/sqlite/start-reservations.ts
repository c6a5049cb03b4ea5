import type Database from 'better-sqlite3';
import { OPEN_STATES } from '../../domain/sessions';
import type { NewCall, NewSession, ReserveResult, StartReservation } from '../store';
import { toSessionView, type SessionRow } from '../rows';

/**
 * A REST start takes its slot in the ledger before Twilio is asked. The check (name unused on the
 * call, fewer than `maxOpen` open sessions) and the insert are one write transaction: writes run
 * one at a time on the writer, inside BEGIN IMMEDIATE, which also holds the file's write lock
 * against another process sharing it. So two starts can never both see the last free slot.
 */
export function startReservations(db: Database.Database, recordRequested: (call: NewCall, sessions: NewSession[]) => void) {
  const nameTaken = db.prepare('SELECT 1 FROM siprec_sessions WHERE call_sid = ? AND name = ?');
  const openOfCall = db.prepare(
    `SELECT * FROM siprec_sessions WHERE call_sid = ? AND state IN (${OPEN_STATES.map((s) => `'${s}'`).join(', ')}) AND stop_requested_at IS NULL ORDER BY id`,
  );
  const activityOf = db.prepare('SELECT last_activity_at FROM calls WHERE call_sid = ?');
  // Only a reservation nothing has confirmed: no SID, no event, no stop. A callback that arrived
  // for it (Twilio started it after all) keeps it.
  const deleteReservation = db.prepare(`DELETE FROM siprec_sessions WHERE call_sid = @callSid AND name = @name
    AND siprec_sid IS NULL AND stop_requested_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM siprec_events e WHERE e.session_id = siprec_sessions.id)`);
  const deleteEmptyCall = db.prepare(
    'DELETE FROM calls WHERE call_sid = ? AND NOT EXISTS (SELECT 1 FROM siprec_sessions s WHERE s.call_sid = calls.call_sid)',
  );
  // Unless something else has touched the call since, as a refused start leaves no trace.
  const restoreActivity = db.prepare('UPDATE calls SET last_activity_at = @before WHERE call_sid = @callSid AND last_activity_at = @at');

  const reserveStart = db.transaction((call: NewCall, session: NewSession, maxOpen: number): ReserveResult => {
    if (nameTaken.get(call.callSid, session.name)) return { reserved: false, reason: 'name-taken' };
    const open = openOfCall.all(call.callSid) as SessionRow[];
    if (open.length >= maxOpen) return { reserved: false, reason: 'too-many-open', open: open.map(toSessionView) };
    const before = activityOf.get(call.callSid) as { last_activity_at: number | null } | undefined;
    recordRequested(call, [{ ...session, siprecSid: null }]);
    return {
      reserved: true,
      reservation: { callSid: call.callSid, name: session.name, at: call.receivedAt, callCreated: !before, activityBefore: before?.last_activity_at ?? null },
    };
  });

  const releaseStart = db.transaction((r: StartReservation): boolean => {
    if (deleteReservation.run({ callSid: r.callSid, name: r.name }).changes === 0) return false;
    if (r.callCreated) deleteEmptyCall.run(r.callSid);
    else if (r.activityBefore !== null) restoreActivity.run({ callSid: r.callSid, before: r.activityBefore, at: r.at });
    return true;
  });

  return { reserveStart, releaseStart };
}
