import { isTimestampSkewed } from '../../domain/sessions';
import type { CallView, EventView, SessionListItem, SessionState, SessionView } from '../store';

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

// Cursors are written once for every backend, above them (src/store/cursor.ts).
export { decodeCursor, encodeCursor } from '../cursor';
