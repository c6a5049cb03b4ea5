import { ledgerAlertDue } from './ledger-window';
import type { Alert, DeliveryStatus, InitialState, NewAlert } from './types';

/** Most alerts held at once; ledger-write-failed is raised once per window, so this is never near. */
const MAX_HELD = 100;

export function initialStatus(state: InitialState, at: number): DeliveryStatus {
  return { state, attempts: 0, nextAttemptAt: state === 'pending' ? at : null, lastError: null, deliveredAt: null };
}

/**
 * Alerts raised while the ledger cannot write (ledger-write-failed): they live in this process's
 * memory, are delivered from here, and move to the outbox table once the ledger writes again.
 * `lastRaisedAt`: when the last one was raised before this process (from the outbox), so that a
 * restart does not open a new window.
 */
export function createHeldAlerts(lastRaisedAt: number | null = null) {
  const held = new Map<string, Alert>();
  let last = lastRaisedAt;
  let seq = 0;

  return {
    /** Holds the alert unless one was raised within the window; true when held. */
    hold(alert: NewAlert, initialState: InitialState): boolean {
      if (!ledgerAlertDue(last, alert.at)) return false;
      last = alert.at;
      if (held.size >= MAX_HELD) held.delete(held.keys().next().value as string);
      const id = `held:${++seq}`;
      held.set(id, { ...alert, ...initialStatus(initialState, alert.at), id });
      return true;
    },
    due(now: number): Alert[] {
      return [...held.values()].filter(
        (a) => (a.state === 'pending' || a.state === 'retrying') && a.nextAttemptAt !== null && a.nextAttemptAt <= now,
      );
    },
    /** The earliest next attempt of a held alert, but those in `sending`; null when none waits. */
    nextDueAt(sending?: ReadonlySet<string>): number | null {
      let next: number | null = null;
      for (const a of held.values()) {
        if (sending?.has(a.id)) continue;
        if ((a.state === 'pending' || a.state === 'retrying') && a.nextAttemptAt !== null && (next === null || a.nextAttemptAt < next)) next = a.nextAttemptAt;
      }
      return next;
    },
    update(id: string, status: DeliveryStatus): void {
      const alert = held.get(id);
      if (alert) held.set(id, { ...alert, ...status });
    },
    all(): Alert[] {
      return [...held.values()];
    },
    remove(ids: readonly string[]): void {
      for (const id of ids) held.delete(id);
    },
  };
}
export type HeldAlerts = ReturnType<typeof createHeldAlerts>;
