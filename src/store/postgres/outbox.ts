import { createHeldAlerts, initialStatus, type HeldAlerts } from '../../alerts/held';
import { startTimeoutAlert } from '../../alerts/messages';
import { MAX_START_TIMEOUTS_PER_SCAN, startTimeoutWindow, WAITING_STATES } from '../../alerts/rules';
import type { AlertOutbox } from '../../alerts/types';
import { toAlertView } from '../../alerts/view';
import { toAlert, type AlertRow } from '../rows';
import type { Deadlined, Sql } from './connection';
import { enqueueAlert } from './alert-writes';

const WAITING = [...WAITING_STATES];

type Stuck = { id: number; call_sid: string; name: string; connector_name: string | null };

/** Held alerts whose window goes on from the last ledger-write-failed in the outbox (any instance's). */
export async function heldAlertsOver(sql: Sql): Promise<HeldAlerts> {
  let last: number | null = null;
  try {
    const [row] = await sql<Array<{ at: number }>>`SELECT occurred_at AS at FROM alert_outbox
      WHERE kind = 'ledger-write-failed' AND connector_name IS NULL ORDER BY occurred_at DESC LIMIT 1`;
    last = row?.at ?? null;
  } catch {
    // A ledger that cannot be read at boot must not stop the calls; the window then starts afresh.
  }
  return createHeldAlerts(last);
}

/**
 * The outbox, shared by every instance on the database. A claim takes due rows with FOR UPDATE SKIP
 * LOCKED and pushes their next attempt a lease ahead in the same statement: an instance claiming
 * at the same moment skips the rows locked by the other, and after its commit finds them not due.
 */
export function createPostgresOutbox(db: Deadlined, held: HeldAlerts, deadlineMs: number): AlertOutbox {
  const read = <T>(what: string, fn: (sql: Sql) => Promise<T>) => db.run(what, deadlineMs, fn);

  return {
    hold: (alert, initialState) => held.hold(alert, initialState),
    dueHeld: (now) => held.due(now),
    updateHeld: (id, status) => held.update(id, status),

    flushHeld: async (now, keep) => {
      const items = held.all().filter((a) => !keep?.has(a.id));
      if (items.length === 0) return 0;
      await db.tx('moving held alerts to the outbox', deadlineMs, async (tx) => {
        for (const a of items) await enqueueAlert(tx, a, a, now);
      });
      held.remove(items.map((a) => a.id));
      return items.length;
    },

    claimDue: async (now, leaseMs, limit) => {
      // A read first: an idle outbox must not cost a write every tick.
      const any = await read('reading the outbox', (sql) => sql`SELECT 1 FROM alert_outbox
        WHERE state IN ${sql(WAITING)} AND next_attempt_at <= ${now} LIMIT 1`);
      if (any.length === 0) return [];
      const rows = await db.tx('claiming due alerts', deadlineMs, (tx) => tx<AlertRow[]>`WITH due AS (
          SELECT * FROM alert_outbox WHERE state IN ${tx(WAITING)} AND next_attempt_at <= ${now}
          ORDER BY next_attempt_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
        UPDATE alert_outbox a SET next_attempt_at = ${now + leaseMs} FROM due WHERE a.id = due.id
        RETURNING due.*`);
      // As read before the lease, in due order (RETURNING keeps none).
      return [...rows].sort((a, b) => a.next_attempt_at - b.next_attempt_at || a.id - b.id).map(toAlert);
    },

    nextDueAt: async (sending) => {
      let stored: number | null = null;
      try {
        const [row] = await read('reading the outbox', (sql) => sql<Array<{ at: number | null }>>`SELECT min(next_attempt_at) AS at
          FROM alert_outbox WHERE state IN ${sql(WAITING)}`);
        stored = row?.at ?? null;
      } catch {
        // Held alerts are due all the same; the dispatcher's poll finds the table's once it reads again.
      }
      const inMemory = held.nextDueAt(sending);
      return stored === null ? inMemory : inMemory === null ? stored : Math.min(stored, inMemory);
    },

    recordAttempt: async (id, status, now) => {
      await db.tx('recording an alert delivery', deadlineMs, (tx) => tx`UPDATE alert_outbox SET state = ${status.state},
        attempts = ${status.attempts}, next_attempt_at = coalesce(${status.nextAttemptAt}::bigint, next_attempt_at),
        last_error = ${status.lastError}, delivered_at = ${status.deliveredAt}, updated_at = ${now} WHERE id = ${Number(id)}`);
    },

    raiseStartTimeouts: async (now, timeoutMs, initialState) => {
      const w = startTimeoutWindow(now, timeoutMs);
      // The NOT EXISTS keeps a scan from rebuilding alerts it already raised.
      const stuck = await read('scanning for sessions that never started', (sql) => sql<Stuck[]>`SELECT s.id, s.call_sid, s.name, s.connector_name
        FROM siprec_sessions s
        WHERE s.state = 'requested' AND s.created_at >= ${w.since} AND s.requested_at <= ${w.cutoff}
          AND NOT EXISTS (SELECT 1 FROM alert_outbox a WHERE a.dedupe_key = 'start-timeout:' || s.call_sid || ':' || s.name)
        ORDER BY s.created_at, s.id LIMIT ${MAX_START_TIMEOUTS_PER_SCAN}`);
      if (stuck.length === 0) return 0;
      return db.tx('raising start-timeout alerts', deadlineMs, async (tx) => {
        // The calls' rows, locked in one order (as each write of a call locks it first): a
        // siprec-started being stored now commits before the state is read, or waits for this.
        await tx`SELECT 1 FROM calls WHERE call_sid IN ${tx([...new Set(stuck.map((s) => s.call_sid))])} ORDER BY call_sid FOR UPDATE`;
        const states = await tx<Array<{ id: number; state: string }>>`SELECT id, state FROM siprec_sessions WHERE id IN ${tx(stuck.map((s) => s.id))}`;
        const requested = new Set(states.filter((r) => r.state === 'requested').map((r) => r.id));
        let raised = 0;
        for (const s of stuck) {
          if (!requested.has(s.id)) continue;
          const alert = startTimeoutAlert({ callSid: s.call_sid, sessionName: s.name, connectorName: s.connector_name, timeoutMs: timeoutMs, at: now });
          if (await enqueueAlert(tx, alert, initialStatus(initialState, now), now)) raised += 1;
        }
        return raised;
      });
    },

    list: async (limit) => {
      const stored = await read('listing alerts', (sql) => sql<AlertRow[]>`SELECT * FROM alert_outbox ORDER BY occurred_at DESC, id DESC LIMIT ${limit}`);
      return [...held.all(), ...stored.map(toAlert)]
        .sort((a, b) => b.at - a.at)
        .slice(0, limit)
        .map(toAlertView);
    },
  };
}
