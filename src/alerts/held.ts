import type { Alert, DeliveryStatus, InitialState, NewAlert } from './types';

/** Most alerts held at once; ledger-write-failed is deduplicated per window, so this is never near. */
const MAX_HELD = 100;
/** Keys remembered after an alert leaves memory, so the same window does not alert twice. */
const MAX_REMEMBERED_KEYS = 1000;

export function initialStatus(state: InitialState, at: number): DeliveryStatus {
  return { state, attempts: 0, nextAttemptAt: state === 'pending' ? at : null, lastError: null, deliveredAt: null };
}

/**
 * Alerts raised while the ledger cannot write (ledger-write-failed): they live in this process's
 * memory, are delivered from here, and move to the outbox table once the ledger writes again.
 */
export function createHeldAlerts() {
  const held = new Map<string, Alert>();
  const raised = new Set<string>();
  let seq = 0;

  return {
    hold(alert: NewAlert, initialState: InitialState): boolean {
      if (raised.has(alert.dedupeKey)) return false;
      raised.add(alert.dedupeKey);
      if (raised.size > MAX_REMEMBERED_KEYS) raised.delete(raised.values().next().value as string);
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
