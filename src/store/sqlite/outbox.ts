import type Database from 'better-sqlite3';
import { createHeldAlerts, initialStatus, type HeldAlerts } from '../../alerts/held';
import { errorBurstAlert, siprecErrorAlert, startTimeoutAlert } from '../../alerts/messages';
import { burstWindowStart, errorBurstDue, MAX_START_TIMEOUTS_PER_SCAN, startTimeoutWindow, WAITING_STATES } from '../../alerts/rules';
import type { Alert, AlertOutbox, AlertPolicy, DeliveryStatus, InitialState, NewAlert } from '../../alerts/types';
import { toAlertView } from '../../alerts/view';
import { toAlert, type AlertRow } from '../rows';
import { storeUnavailable, written } from '../store';
import type { LedgerWriter } from './writes';

const WAITING = `(${WAITING_STATES.map((s) => `'${s}'`).join(', ')})`;


/** Statements that run inside the ledger's own transactions (the caller holds the write). */
export function alertWrites(db: Database.Database) {
  const insert = db.prepare(`INSERT INTO alert_outbox (kind, dedupe_key, severity, message, call_sid, session_name,
      connector_name, error_code, error_message, occurred_at, state, attempts, next_attempt_at, last_error, delivered_at, updated_at)
    VALUES (@kind, @dedupeKey, @severity, @message, @callSid, @sessionName, @connectorName, @errorCode, @errorMessage,
      @at, @state, @attempts, @nextAttemptAt, @lastError, @deliveredAt, @updatedAt)
    ON CONFLICT (dedupe_key) DO NOTHING`);
  const errorsOnConnector = db.prepare(`SELECT count(*) AS n FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id
    WHERE e.event = 'siprec-error' AND e.received_at > @since AND s.connector_name = @connectorName`);
  const burstSince = db.prepare(`SELECT 1 FROM alert_outbox
    WHERE kind = 'error-burst' AND connector_name = @connectorName AND occurred_at > @since LIMIT 1`);

  /** Adds the alert unless one with its key exists; true when added. */
  const enqueue = (alert: NewAlert, status: DeliveryStatus, now: number): boolean =>
    insert.run({ ...alert, ...status, nextAttemptAt: status.nextAttemptAt ?? alert.at, updatedAt: now }).changes > 0;

  return {
    enqueue,
    /**
     * Raises what a just-stored error event calls for: siprec-error once per session, and
     * error-burst once per connector and window when the connector has had more than the allowed errors.
     */
    onErrorEvent(
      s: { callSid: string; sessionName: string; connectorName: string | null; errorCode: string | null; errorMessage: string | null; at: number },
      policy: AlertPolicy,
    ): void {
      enqueue(siprecErrorAlert(s), initialStatus(policy.initialState, s.at), s.at);
      if (!s.connectorName) return;
      const since = burstWindowStart(s.at, policy);
      const count = (errorsOnConnector.get({ since, connectorName: s.connectorName }) as { n: number }).n;
      // Only past the threshold is the window's earlier burst looked up.
      if (!errorBurstDue(count, count > policy.burst.count && Boolean(burstSince.get({ since, connectorName: s.connectorName })), policy)) return;
      const burst = errorBurstAlert({ connectorName: s.connectorName, count, windowMs: policy.burst.windowMs, at: s.at });
      enqueue(burst, initialStatus(policy.initialState, s.at), s.at);
    },
  };
}

type Stuck = { id: number; call_sid: string; name: string; connector_name: string | null };

/** The outbox's own writes, as named ledger writes (see writes.ts). */
export function outboxWrites(db: Database.Database) {
  const writes = alertWrites(db);
  const dueRows = db.prepare(`SELECT * FROM alert_outbox WHERE state IN ${WAITING} AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`);
  const lease = db.prepare('UPDATE alert_outbox SET next_attempt_at = ? WHERE id = ?');
  const update = db.prepare(`UPDATE alert_outbox SET state = @state, attempts = @attempts, next_attempt_at = coalesce(@nextAttemptAt, next_attempt_at),
    last_error = @lastError, delivered_at = @deliveredAt, updated_at = @now WHERE id = @id`);
  const stateOf = db.prepare('SELECT state FROM siprec_sessions WHERE id = ?');

  return {
    moveHeld: db.transaction((items: Alert[], now: number): void => {
      for (const a of items) writes.enqueue(a, a, now);
    }),
    claimAlerts: db.transaction((now: number, leaseMs: number, limit: number): Alert[] =>
      (dueRows.all(now, limit) as AlertRow[]).map((r) => {
        lease.run(now + leaseMs, r.id);
        return toAlert(r);
      }),
    ),
    recordAlertStatus: db.transaction((id: string, status: DeliveryStatus, now: number): void => {
      update.run({ ...status, id: Number(id), now });
    }),
    raiseStartTimeouts: db.transaction((stuck: Stuck[], now: number, timeoutMs: number, initialState: InitialState): number => {
      let raised = 0;
      for (const s of stuck) {
        // A siprec-started may have been stored since the read: never alert for a session that started.
        if ((stateOf.get(s.id) as { state: string } | undefined)?.state !== 'requested') continue;
        const alert = startTimeoutAlert({ callSid: s.call_sid, sessionName: s.name, connectorName: s.connector_name, timeoutMs, at: now });
        if (writes.enqueue(alert, initialStatus(initialState, now), now)) raised += 1;
      }
      return raised;
    }),
  };
}

/** Held alerts whose window goes on from the last ledger-write-failed in `db`'s outbox. */
export function heldAlertsOver(db: Database.Database): HeldAlerts {
  // Uses alert_outbox_kind_connector: ledger-write-failed alerts have no connector.
  const lastLedgerAlert = db.prepare(`SELECT occurred_at AS at FROM alert_outbox
    WHERE kind = 'ledger-write-failed' AND connector_name IS NULL ORDER BY occurred_at DESC LIMIT 1`);
  let lastLedgerAlertAt: number | null = null;
  try {
    lastLedgerAlertAt = (lastLedgerAlert.get() as { at: number } | undefined)?.at ?? null;
  } catch {
    // A ledger that cannot be read at boot must not stop the calls; the window then starts afresh.
  }
  return createHeldAlerts(lastLedgerAlertAt);
}

/**
 * The outbox over the ledger's database. Its writes go through the ledger's writer, so they share
 * its BEGIN IMMEDIATE … COMMIT (and its fsync) with the ledger's; reads run here. `held` outlives
 * the outbox when the ledger file is reopened (ledger-file.ts).
 */
export function createSqliteOutbox(db: Database.Database, writer: LedgerWriter, held: HeldAlerts = heldAlertsOver(db)): AlertOutbox {
  const read = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw storeUnavailable(what, err);
    }
  };

  const anyDue = db.prepare(`SELECT 1 FROM alert_outbox WHERE state IN ${WAITING} AND next_attempt_at <= ? LIMIT 1`);
  const firstDue = db.prepare(`SELECT min(next_attempt_at) AS at FROM alert_outbox WHERE state IN ${WAITING}`);
  const recent = db.prepare('SELECT * FROM alert_outbox ORDER BY occurred_at DESC, id DESC LIMIT ?');
  // Uses siprec_sessions_state_created; the NOT EXISTS keeps a scan from rebuilding alerts it already raised.
  const stuckSessions = db.prepare(`SELECT s.id, s.call_sid, s.name, s.connector_name FROM siprec_sessions s
    WHERE s.state = 'requested' AND s.created_at >= @since AND s.requested_at <= @cutoff
      AND NOT EXISTS (SELECT 1 FROM alert_outbox a WHERE a.dedupe_key = 'start-timeout:' || s.call_sid || ':' || s.name)
    ORDER BY s.created_at, s.id LIMIT ${MAX_START_TIMEOUTS_PER_SCAN}`);

  return {
    hold: (alert, initialState) => held.hold(alert, initialState),
    dueHeld: (now) => held.due(now),
    updateHeld: (id, status) => held.update(id, status),

    flushHeld: async (now, keep) => {
      const items = held.all().filter((a) => !keep?.has(a.id));
      if (items.length === 0) return 0;
      await written('moving held alerts to the outbox', writer.run('moveHeld', items, now));
      held.remove(items.map((a) => a.id));
      return items.length;
    },

    claimDue: async (now, leaseMs, limit) => {
      // A read first: an idle outbox must not cost a write (and an fsync) every tick.
      if (!read('reading the outbox', () => anyDue.get(now))) return [];
      return written('claiming due alerts', writer.run('claimAlerts', now, leaseMs, limit));
    },

    nextDueAt: async (sending) => {
      let stored: number | null = null;
      try {
        stored = (firstDue.get() as { at: number | null }).at;
      } catch {
        // Held alerts are due all the same; the dispatcher's poll finds the table's once it reads again.
      }
      const inMemory = held.nextDueAt(sending);
      return stored === null ? inMemory : inMemory === null ? stored : Math.min(stored, inMemory);
    },

    recordAttempt: (id, status, now) => written('recording an alert delivery', writer.run('recordAlertStatus', id, status, now)),

    raiseStartTimeouts: async (now, timeoutMs, initialState) => {
      const stuck = read('scanning for sessions that never started', () =>
        stuckSessions.all(startTimeoutWindow(now, timeoutMs)) as Stuck[],
      );
      if (stuck.length === 0) return 0;
      return written('raising start-timeout alerts', writer.run('raiseStartTimeouts', stuck, now, timeoutMs, initialState));
    },

    list: async (limit) => {
      const stored = read('listing alerts', () => (recent.all(limit) as AlertRow[]).map(toAlert));
      return [...held.all(), ...stored]
        .sort((a, b) => b.at - a.at)
        .slice(0, limit)
        .map(toAlertView);
    },
  };
}
