/**
 * Alerts: what is raised, how it waits for delivery, and what the operator API shows of it.
 * The outbox is part of the ledger (a table written in the same transaction as the fact that raised
 * the alert), so its interface is async like the Store's.
 */

export const ALERT_KINDS = ['siprec-error', 'start-timeout', 'ledger-write-failed', 'error-burst'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export type AlertSeverity = 'critical' | 'error' | 'warning';

/**
 * pending: waiting for its first attempt; retrying: failed at least once, will try again;
 * delivered: the receiver answered 2xx; gave_up: every attempt failed; not_configured: no
 * ALERT_WEBHOOK_URL, kept for the status page and never sent.
 */
export const DELIVERY_STATES = ['pending', 'retrying', 'delivered', 'gave_up', 'not_configured'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];
export type InitialState = Extract<DeliveryState, 'pending' | 'not_configured'>;

export interface NewAlert {
  kind: AlertKind;
  /** Unique per fact: a second alert with the same key is dropped. */
  dedupeKey: string;
  severity: AlertSeverity;
  message: string;
  callSid: string | null;
  sessionName: string | null;
  connectorName: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** When the fact happened (ms since the epoch). */
  at: number;
}

export interface DeliveryStatus {
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number | null;
  lastError: string | null;
  deliveredAt: number | null;
}

export interface Alert extends NewAlert, DeliveryStatus {
  /** The outbox row id, or `held:<n>` while the alert is held in memory. */
  id: string;
}

/** An alert as the operator API shows it: times as ISO 8601, absent values null. */
export interface AlertView extends Omit<NewAlert, 'dedupeKey' | 'at'> {
  id: string;
  at: string;
  state: DeliveryState;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  /** True while the ledger could not take it and it lives only in this process's memory. */
  held: boolean;
}

/** What the store needs to raise alerts inside the write that records an error event. */
export interface AlertPolicy {
  initialState: InitialState;
  burst: { count: number; windowMs: number };
}

export interface AlertOutbox {
  /**
   * Keeps an alert in memory, for when the ledger itself is failing; `flushHeld` moves it to the
   * table later. Returns false when one was raised within the window (ledger-window.ts), in this
   * process or, as the outbox shows, before it.
   */
  hold(alert: NewAlert, initialState: InitialState): boolean;
  /**
   * Moves held alerts into the table with their delivery state, but those in `keep` (an attempt is in
   * flight: its outcome is recorded in memory); throws StoreUnavailableError while the ledger cannot write.
   */
  flushHeld(now: number, keep?: ReadonlySet<string>): Promise<number>;
  /** Held alerts whose next attempt is due. */
  dueHeld(now: number): Alert[];
  /** Records the outcome of an attempt on a held alert. */
  updateHeld(id: string, status: DeliveryStatus): void;
  /**
   * Takes up to `limit` due alerts from the table and pushes their next attempt `leaseMs` ahead, in
   * one write, so that no other dispatcher sends them meanwhile.
   */
  claimDue(now: number, leaseMs: number, limit: number): Promise<Alert[]>;
  /**
   * When the earliest waiting alert (held or in the table, a claim's lease included) is due; null when
   * none waits. Held alerts in `sending` (an attempt is in flight) do not count. While the table cannot
   * be read, the held alerts' only.
   */
  nextDueAt(sending?: ReadonlySet<string>): Promise<number | null>;
  /** Records the outcome of an attempt on an alert from the table. */
  recordAttempt(id: string, status: DeliveryStatus, now: number): Promise<void>;
  /** Raises start-timeout for sessions still `requested` `timeoutMs` after they were requested; returns how many. */
  raiseStartTimeouts(now: number, timeoutMs: number, initialState: InitialState): Promise<number>;
  /** Newest first, held alerts included. */
  list(limit: number): Promise<AlertView[]>;
}
