/** Row shapes both backends return (integer ms times, JSON as text) and their API views. */
import { isTimestampSkewed } from '../domain/sessions';
import type { Alert, AlertKind, AlertSeverity, DeliveryState } from '../alerts/types';
import type { Stats, CallView, EventView, SessionListItem, SessionState, SessionView } from './store';

export interface CallRow {
  call_sid: string;
  account_sid: string;
  from_number: string | null;
  to_number: string | null;
  direction: string | null;
  created_at: number;
  route_key: string | null;
  last_activity_at: number | null;
}

export interface SessionRow {
  id: number;
  call_sid: string;
  name: string;
  siprec_sid: string | null;
  connector_name: string | null;
  track: string | null;
  state: SessionState;
  requested_at: number | null;
  started_at: number | null;
  stopped_at: number | null;
  stop_requested_at: number | null;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
}

export interface EventRow {
  session_id: number;
  event: string;
  timestamp_raw: string;
  occurred_at: number | null;
  received_at: number;
  error_code: string | null;
  error_message: string | null;
  payload: string;
}

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export const toCallView = (r: CallRow): CallView => ({
  callSid: r.call_sid,
  accountSid: r.account_sid,
  from: r.from_number,
  to: r.to_number,
  direction: r.direction,
  createdAt: new Date(r.created_at).toISOString(),
});

export const toSessionView = (r: SessionRow): SessionView => ({
  callSid: r.call_sid,
  name: r.name,
  siprecSid: r.siprec_sid,
  connectorName: r.connector_name,
  track: r.track,
  state: r.state,
  requestedAt: iso(r.requested_at),
  startedAt: iso(r.started_at),
  stoppedAt: iso(r.stopped_at),
  stopRequestedAt: iso(r.stop_requested_at),
  errorCode: r.error_code,
  errorMessage: r.error_message,
});

export const toSessionListItem = (r: SessionRow & { from_number: string | null; to_number: string | null }): SessionListItem => ({
  ...toSessionView(r),
  from: r.from_number,
  to: r.to_number,
});

export const toEventView = (r: EventRow): EventView => ({
  event: r.event,
  timestamp: r.timestamp_raw,
  occurredAt: iso(r.occurred_at),
  receivedAt: new Date(r.received_at).toISOString(),
  errorCode: r.error_code,
  errorMessage: r.error_message,
  payload: JSON.parse(r.payload) as Record<string, unknown>,
  timestampSkewed: isTimestampSkewed(r.occurred_at, r.received_at),
});

// Cursors are written once for every backend (src/store/cursor.ts).
export { decodeCursor, encodeCursor } from './cursor';

export interface AlertRow {
  id: number;
  kind: AlertKind;
  dedupe_key: string;
  severity: AlertSeverity;
  message: string;
  call_sid: string | null;
  session_name: string | null;
  connector_name: string | null;
  error_code: string | null;
  error_message: string | null;
  occurred_at: number;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  delivered_at: number | null;
}

export const toAlert = (r: AlertRow): Alert => ({
  id: String(r.id),
  kind: r.kind,
  dedupeKey: r.dedupe_key,
  severity: r.severity,
  message: r.message,
  callSid: r.call_sid,
  sessionName: r.session_name,
  connectorName: r.connector_name,
  errorCode: r.error_code,
  errorMessage: r.error_message,
  at: r.occurred_at,
  state: r.state,
  attempts: r.attempts,
  // The column also holds the claim lease; it means "next attempt" only while the alert waits.
  nextAttemptAt: r.state === 'pending' || r.state === 'retrying' ? r.next_attempt_at : null,
  lastError: r.last_error,
  deliveredAt: r.delivered_at,
});

/** A siprec-error event with its session, as both backends read it for Stats.latestErrors. */
export interface LatestErrorRow {
  call_sid: string;
  name: string;
  connector_name: string | null;
  error_code: string | null;
  error_message: string | null;
  received_at: number;
}

export const toLatestError = (r: LatestErrorRow): Stats['latestErrors'][number] => ({
  callSid: r.call_sid,
  name: r.name,
  connectorName: r.connector_name,
  errorCode: r.error_code,
  errorMessage: r.error_message,
  at: new Date(r.received_at).toISOString(),
});
