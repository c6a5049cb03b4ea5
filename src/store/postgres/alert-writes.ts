import { initialStatus } from '../../alerts/held';
import { errorBurstAlert, siprecErrorAlert } from '../../alerts/messages';
import { burstWindowStart, errorBurstDue } from '../../alerts/rules';
import type { AlertPolicy, DeliveryStatus, NewAlert } from '../../alerts/types';
import type { IncomingEvent } from '../store';
import type { SessionRow } from '../rows';
import type { Tx } from './connection';

/** The advisory lock class of "error-burst of one connector" (the key within it is the name's hash). */
const BURST_LOCK_CLASS = 0x5ec_0002;

/** Adds the alert unless one with its key exists (here or being added by another instance); true when added. */
export async function enqueueAlert(tx: Tx, alert: NewAlert, status: DeliveryStatus, now: number): Promise<boolean> {
  const rows = await tx`INSERT INTO alert_outbox (kind, dedupe_key, severity, message, call_sid, session_name,
      connector_name, error_code, error_message, occurred_at, state, attempts, next_attempt_at, last_error, delivered_at, updated_at)
    VALUES (${alert.kind}, ${alert.dedupeKey}, ${alert.severity}, ${alert.message}, ${alert.callSid}, ${alert.sessionName},
      ${alert.connectorName}, ${alert.errorCode}, ${alert.errorMessage}, ${alert.at}, ${status.state}, ${status.attempts},
      ${status.nextAttemptAt ?? alert.at}, ${status.lastError}, ${status.deliveredAt}, ${now})
    ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`;
  return rows.length > 0;
}

/**
 * What a just-stored error event calls for, inside its transaction: siprec-error once per session,
 * and error-burst once per connector and window. The burst check reads other transactions' work
 * (their errors, their bursts), so it runs under a transaction-scoped advisory lock per connector:
 * of two instances storing errors of one connector at once, the second counts after the first has
 * committed, and sees its error and its burst. Taken last, after the call's row, so that no two
 * transactions wait for each other's locks in opposite orders.
 */
export async function raiseErrorAlerts(tx: Tx, e: IncomingEvent, session: SessionRow, policy?: AlertPolicy): Promise<void> {
  if (!policy || e.event !== 'siprec-error') return;
  const s = {
    callSid: session.call_sid,
    sessionName: session.name,
    connectorName: session.connector_name,
    errorCode: e.errorCode,
    errorMessage: e.errorMessage,
    at: e.receivedAt,
  };
  await enqueueAlert(tx, siprecErrorAlert(s), initialStatus(policy.initialState, s.at), s.at);
  const connectorName = s.connectorName;
  if (!connectorName) return;
  await tx`SELECT pg_advisory_xact_lock(${BURST_LOCK_CLASS}, hashtext(${connectorName}))`;
  const since = burstWindowStart(s.at, policy);
  const [row] = await tx<Array<{ n: number; raised: boolean }>>`SELECT
      (SELECT count(*) FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
        WHERE e.event = 'siprec-error' AND e.received_at > ${since} AND s.connector_name = ${connectorName}) AS n,
      EXISTS (SELECT 1 FROM alert_outbox WHERE kind = 'error-burst' AND connector_name = ${connectorName} AND occurred_at > ${since}) AS raised`;
  if (!errorBurstDue(row!.n, row!.raised, policy)) return;
  const burst = errorBurstAlert({ connectorName, count: row!.n, windowMs: policy.burst.windowMs, at: s.at });
  await enqueueAlert(tx, burst, initialStatus(policy.initialState, s.at), s.at);
}
