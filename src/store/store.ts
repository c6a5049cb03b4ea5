import type { AlertOutbox, AlertPolicy } from '../alerts/types';

/**
 * The ledger's interface. Async so that a PostgreSQL implementation can satisfy it later without
 * changing any route. Returned objects are plain data in API shape: times as ISO 8601 strings,
 * absent values as null.
 */

export type SessionState = 'requested' | 'active' | 'failed' | 'stopped';
export const SESSION_STATES: readonly SessionState[] = ['requested', 'active', 'failed', 'stopped'];

export interface NewCall {
  callSid: string;
  accountSid: string;
  from: string | null;
  to: string | null;
  direction: string | null;
  receivedAt: number;
  /** The route the call was answered on (routing.ts routeKey); kept once set. */
  route?: string | null;
}

export interface NewSession {
  name: string;
  connectorName: string | null;
  track: string | null;
  parameters: Array<{ name: string; value: string }>;
  siprecSid?: string | null;
}

/** A status callback as validated at the edge. */
export interface IncomingEvent {
  accountSid: string;
  callSid: string;
  siprecSid: string;
  siprecName: string;
  event: string;
  timestampRaw: string;
  occurredAt: number | null;
  receivedAt: number;
  errorCode: string | null;
  errorMessage: string | null;
  payload: Record<string, unknown>;
}

export interface CallView {
  callSid: string;
  accountSid: string;
  from: string | null;
  to: string | null;
  direction: string | null;
  createdAt: string;
}

export interface EventView {
  event: string;
  timestamp: string;
  /**
   * `timestamp` as an instant, when it names a real time (parseTwilioTimestamp), else null: readers use
   * this, never parse `timestamp` again (Date.parse would roll 30 February over to 2 March).
   */
  occurredAt: string | null;
  receivedAt: string;
  errorCode: string | null;
  errorMessage: string | null;
  payload: Record<string, unknown>;
  /** Twilio's Timestamp is more than a day from when the callback arrived: one of the clocks is wrong. */
  timestampSkewed: boolean;
}

export interface SessionView {
  callSid: string;
  name: string;
  siprecSid: string | null;
  connectorName: string | null;
  track: string | null;
  state: SessionState;
  requestedAt: string | null;
  startedAt: string | null;
  stoppedAt: string | null;
  stopRequestedAt: string | null;
  errorCode: string | null;
  errorMessage: string | null;
}

export interface SessionListItem extends SessionView {
  from: string | null;
  to: string | null;
}

export interface CallDetail {
  call: CallView;
  sessions: Array<SessionView & { events: EventView[] }>;
}

export interface SessionQuery {
  state?: SessionState;
  callSid?: string;
  connectorName?: string;
  /** Connectors whose name starts with this, in any case (ASCII letters). */
  connectorPrefix?: string;
  siprecSid?: string;
  /** A number as the ledger stores it (the caller applies STORE_CALLER_NUMBERS), matched against From or To. */
  phone?: string;
  /** Sessions first recorded at or after `since` and before `until` (ms since the epoch). */
  since?: number;
  until?: number;
  /** Also count every session the filters match (all pages), as `total`. */
  withTotal?: boolean;
  limit: number;
  cursor?: string;
}

export interface SessionPage {
  sessions: SessionListItem[];
  nextCursor: string | null;
  total?: number;
}

/** One connector's health: its open sessions, and its errors over the last day. */
export interface ConnectorSummary {
  connectorName: string | null;
  open: number;
  failedLastHour: number;
  lastError: { callSid: string; name: string; errorCode: string | null; errorMessage: string | null; at: string } | null;
}

/** Sessions still `requested` (no siprec-started) since before a cutoff. */
export interface StuckRequested {
  count: number;
  oldest: { callSid: string; name: string; connectorName: string | null; requestedAt: string } | null;
}

export interface Stats {
  sessionsByState: Record<SessionState, number>;
  eventsLastHour: number;
  eventsLastDay: number;
  startedLastHour: number;
  failedLastHour: number;
  latestErrors: Array<{ callSid: string; name: string; connectorName: string | null; errorCode: string | null; errorMessage: string | null; at: string }>;
}

/** `stored-apart`: its session name holds another SiprecSid, so it was stored as a session of its own. */
export type ApplyResult = 'stored' | 'duplicate' | 'stored-apart';

/** A REST start's slot in the ledger, taken before Twilio is asked; what giving it back needs. */
export interface StartReservation {
  callSid: string;
  name: string;
  at: number;
  /** The reservation made the call's row, so giving it back removes the row too. */
  callCreated: boolean;
  activityBefore: number | null;
}

export type ReserveResult =
  | { reserved: true; reservation: StartReservation }
  | { reserved: false; reason: 'name-taken' }
  | { reserved: false; reason: 'too-many-open'; open: SessionView[] };

/**
 * Twilio ends every call within 24 hours (its longest call limit). A session still `requested` or
 * `active` with no activity for longer belongs to a call that is over; an hour more for clocks and
 * late retries.
 */
export const MAX_CALL_IDLE_MS = 25 * 3_600_000;

export interface PurgeResult {
  calls: number;
  sessions: number;
  events: number;
  alerts: number;
  batches: number;
}

/** What the ledger tells the operator; pino's logger is one. */
export interface LedgerLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** `abc` → `abc%` for LIKE (SessionQuery.connectorPrefix), with LIKE's own wildcards taken literally. */
export const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, '\\$&')}%`;

export interface Store {
  /** The call and one `requested` session per `<Siprec>`, in one transaction; a repeat changes nothing. */
  recordRequested(call: NewCall, sessions: NewSession[]): Promise<void>;
  /**
   * Stores a status callback once and re-derives its session from the set of its events. With a
   * policy, a stored error event raises its alerts in the same transaction: once acknowledged, an
   * error is never without its alert.
   */
  applyEvent(event: IncomingEvent, alerts?: AlertPolicy): Promise<ApplyResult>;
  getCall(callSid: string): Promise<CallDetail | null>;
  listSessions(query: SessionQuery): Promise<SessionPage>;
  /** Every connector with open sessions or an error in the day before `now`, by name. */
  connectorSummary(now: number): Promise<ConnectorSummary[]>;
  /** Sessions requested before `before` that Twilio has not reported started. */
  stuckRequested(before: number): Promise<StuckRequested>;
  getStats(now: number): Promise<Stats>;
  /** Sessions by state: one grouped count, cheap enough for every metrics scrape. */
  countSessionsByState(): Promise<Record<SessionState, number>>;
  /** Alerts waiting for delivery, and their history. */
  readonly alerts: AlertOutbox;
  /** Sessions of the call that are requested or active and not asked to stop. */
  openSessions(callSid: string): Promise<SessionView[]>;
  /**
   * Takes a slot for a REST start before Twilio is asked: a `requested` session without SID, the name
   * unused on the call and fewer than `maxOpen` open sessions, checked and taken in one write transaction.
   * A backend must serialise the reservations of one call, or two see the same free slot: SQLite's
   * writes hold the file's write lock; under READ COMMITTED, upsert the call's row first (which locks
   * it, even when the reservation creates it) or take a per-call advisory lock.
   */
  reserveStart(call: NewCall, session: NewSession, maxOpen: number): Promise<ReserveResult>;
  /** Gives back a slot Twilio refused, unless a callback has confirmed it since; true when given back. */
  releaseStart(reservation: StartReservation): Promise<boolean>;
  /** A session started through the REST API, with the SID Twilio returned (confirms its reservation). */
  recordStarted(call: NewCall, session: NewSession, at: number): Promise<SessionView>;
  /** Sets stopRequestedAt on the named sessions (created if unknown); returns them. */
  markStopRequested(call: NewCall, names: string[], at: number): Promise<SessionView[]>;
  /** The route key stored with the call (NewCall.route), or null: unknown call, or none stored. */
  routeOf(callSid: string): Promise<string | null>;
  /**
   * Deletes calls with no activity (a write to the call, its sessions or events) since `cutoff`,
   * with their sessions and events, in batches that each commit on their own, so live writes
   * interleave and never wait for the whole purge. A call with a requested or active session is
   * kept unless it has been idle longer than any call can last (`now` minus MAX_CALL_IDLE_MS):
   * such a session lost its callbacks, and keeping it would keep the call's data for ever.
   */
  purgeOlderThan(cutoff: number, batchSize?: number, now?: number): Promise<PurgeResult>;
  /** Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The store could not commit; the caller must not acknowledge. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** The pagination cursor was not one this store issued. */
export class InvalidCursorError extends Error {
  constructor() {
    super('cursor is not valid: pass the nextCursor of a previous page');
    this.name = 'InvalidCursorError';
  }
}

/** Any failure to read or commit means the ledger cannot promise anything: callers answer 503. */
export function storeUnavailable(what: string, err: unknown): Error {
  if (err instanceof InvalidCursorError || err instanceof StoreUnavailableError) return err;
  return new StoreUnavailableError(`${what} failed: ${(err as Error).message}`, { cause: err });
}

/** A write's outcome, with any failure as storeUnavailable. */
export function written<T>(what: string, done: Promise<T>): Promise<T> {
  return done.catch((err) => Promise.reject(storeUnavailable(what, err)));
}
