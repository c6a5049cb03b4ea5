import { OPEN_STATES } from '../../domain/sessions';
import type { NewCall, NewSession, ReserveResult, StartReservation } from '../store';
import { toSessionView, type SessionRow } from '../rows';
import { Rollback, type Tx } from './connection';
import { recordRequested } from './writes';

const OPEN = [...OPEN_STATES];

/**
 * A REST start takes its slot in the ledger before Twilio is asked. Two starts on one call (on one
 * instance or two) must never both see the last free slot: the call's row is upserted first, which
 * locks it (even when this insert creates it: a second insert of the same key waits for the first
 * to commit), so the name check, the open-session count and the insert run for one start at a time.
 * The upsert changes nothing yet: a refused start leaves no trace (and rolls back a row it made).
 */
export async function reserveStart(tx: Tx, call: NewCall, session: NewSession, maxOpen: number): Promise<ReserveResult> {
  const [locked] = await tx<Array<{ created: boolean; last_activity_at: number | null }>>`INSERT INTO calls
      (call_sid, account_sid, from_number, to_number, direction, created_at, route_key, last_activity_at)
    VALUES (${call.callSid}, ${call.accountSid}, ${call.from}, ${call.to}, ${call.direction}, ${call.receivedAt}, ${call.route ?? null}, ${call.receivedAt})
    ON CONFLICT (call_sid) DO UPDATE SET call_sid = calls.call_sid
    RETURNING (xmax = 0) AS created, last_activity_at`;
  const callCreated = locked!.created;
  const taken = await tx`SELECT 1 FROM siprec_sessions WHERE call_sid = ${call.callSid} AND name = ${session.name}`;
  if (taken.length > 0) throw new Rollback<ReserveResult>({ reserved: false, reason: 'name-taken' });
  const open = await tx<SessionRow[]>`SELECT * FROM siprec_sessions WHERE call_sid = ${call.callSid}
    AND state IN ${tx(OPEN)} AND stop_requested_at IS NULL ORDER BY id`;
  if (open.length >= maxOpen) throw new Rollback<ReserveResult>({ reserved: false, reason: 'too-many-open', open: open.map(toSessionView) });
  await recordRequested(tx, call, [{ ...session, siprecSid: null }]);
  return {
    reserved: true,
    reservation: {
      callSid: call.callSid,
      name: session.name,
      at: call.receivedAt,
      callCreated,
      activityBefore: callCreated ? null : locked!.last_activity_at,
    },
  };
}

/** Gives back a slot Twilio refused, unless a callback (a SID, an event) or a stop has confirmed it since. */
export async function releaseStart(tx: Tx, r: StartReservation): Promise<boolean> {
  // Lock the call first, as every write of a call does.
  await tx`SELECT 1 FROM calls WHERE call_sid = ${r.callSid} FOR UPDATE`;
  const deleted = await tx`DELETE FROM siprec_sessions WHERE call_sid = ${r.callSid} AND name = ${r.name}
    AND siprec_sid IS NULL AND stop_requested_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM siprec_events e WHERE e.session_id = siprec_sessions.id) RETURNING id`;
  if (deleted.length === 0) return false;
  if (r.callCreated) {
    await tx`DELETE FROM calls WHERE call_sid = ${r.callSid} AND NOT EXISTS (SELECT 1 FROM siprec_sessions s WHERE s.call_sid = calls.call_sid)`;
  } else if (r.activityBefore !== null) {
    // Unless something else has touched the call since, as a refused start leaves no trace.
    await tx`UPDATE calls SET last_activity_at = ${r.activityBefore} WHERE call_sid = ${r.callSid} AND last_activity_at = ${r.at}`;
  }
  return true;
}
