import type { Logger } from 'pino';
import type { Metrics } from '../metrics';
import { afterAttempt, DEFAULT_RETRY, type RetryPolicy } from './backoff';
import type { Alert, AlertOutbox, DeliveryStatus } from './types';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, postAlert, type WebhookTarget } from './webhook';

export interface DispatcherOptions {
  outbox: AlertOutbox;
  /** Undefined: alerts are only recorded (state not_configured) and nothing is sent. */
  webhook?: WebhookTarget;
  logger: Logger;
  metrics: Pick<Metrics, 'alertDeliveries'>;
  clock?: () => number;
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Most attempts in flight at once. */
  batchSize?: number;
  /** Called when an attempt's outcome is recorded: its retry, or a free slot, may be what is due next. */
  onSettled?: () => void;
}

const outcomeOf = (s: DeliveryStatus) => (s.state === 'delivered' ? 'delivered' : s.state === 'gave_up' ? 'gave_up' : 'failed');

/**
 * Sends due alerts to the webhook, away from any Twilio request. Held alerts (raised while the
 * ledger could not write) are sent from memory and moved to the outbox as soon as it writes again.
 * A pass starts the attempts that are due and returns without waiting for their answers, so an
 * attempt that waits for a slow receiver (up to the timeout) holds back no other alert's time.
 */
export function createAlertDispatcher(options: DispatcherOptions) {
  const { outbox, webhook, logger, metrics, clock = Date.now, retry = DEFAULT_RETRY, batchSize = 10, onSettled } = options;
  /** Attempts waiting for their answer, by alert id: a held one stays in memory and is not sent again meanwhile. */
  const inFlight = new Map<string, Promise<void>>();
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  // Longer than one attempt can take, so a claimed alert is not sent twice, yet soon retried if this process dies.
  const leaseMs = timeoutMs * 2 + 5_000;

  async function deliver(target: WebhookTarget, alert: Alert, record: (status: DeliveryStatus) => Promise<void> | void): Promise<void> {
    const result = await postAlert(target, alert, { timeoutMs, nowMs: clock() });
    const status = afterAttempt(alert.attempts, result, clock(), retry);
    metrics.alertDeliveries.inc({ kind: alert.kind, outcome: outcomeOf(status) });
    const about = { alertId: alert.id, kind: alert.kind, callSid: alert.callSid, attempts: status.attempts };
    if (status.state === 'delivered') logger.info(about, 'alert delivered');
    else if (status.state === 'gave_up') logger.warn({ ...about, lastError: status.lastError, alertMessage: alert.message }, 'alert NOT delivered: giving up');
    else logger.info({ ...about, lastError: status.lastError, nextAttemptAt: status.nextAttemptAt }, 'alert delivery failed; will retry');
    try {
      await record(status);
    } catch (err) {
      logger.error({ err, ...about }, 'alert delivery outcome not recorded; the alert may be sent again');
    }
  }

  function launch(target: WebhookTarget, alert: Alert, record: (status: DeliveryStatus) => Promise<void> | void): void {
    // deliver() handles its own failures; this catch only keeps a bug from becoming an unhandled rejection.
    const attempt = deliver(target, alert, record)
      .catch((err: unknown) => logger.error({ err, alertId: alert.id }, 'alert attempt failed unexpectedly'))
      .finally(() => {
        inFlight.delete(alert.id);
        onSettled?.();
      });
    inFlight.set(alert.id, attempt);
  }

  return {
    /**
     * One pass: move held alerts into the outbox if the ledger writes again, then start the attempts
     * that are due (at most `batchSize` in flight). Returns when the next alert is due, for the caller
     * to run again then (null: none known); the attempts go on (see `settled`).
     */
    async runOnce(): Promise<number | null> {
      const now = clock();
      const sending = new Set(inFlight.keys());
      await outbox.flushHeld(now, sending).catch((err) => logger.debug({ err }, 'held alerts stay in memory: the ledger still cannot write'));
      if (!webhook) return null;
      let room = batchSize - inFlight.size;
      const held = room > 0 ? outbox.dueHeld(now).filter((a) => !inFlight.has(a.id)).slice(0, room) : [];
      room -= held.length;
      const claimed =
        room > 0
          ? await outbox.claimDue(now, leaseMs, room).catch((err) => {
              logger.warn({ err }, 'alert outbox unavailable; will try again');
              return [] as Alert[];
            })
          : [];
      for (const a of held) launch(webhook, a, (s) => outbox.updateHeld(a.id, s));
      for (const a of claimed) launch(webhook, a, (s) => outbox.recordAttempt(a.id, s, clock()));
      const next = await outbox.nextDueAt(new Set(inFlight.keys())).catch(() => null);
      // Due when the pass began, and yet nothing was started: the outbox could not be claimed, or every
      // slot is taken (a settled attempt calls onSettled). Wait, not a busy loop. Compared with the
      // pass's own start: an alert that fell due since (a timer fires up to a millisecond before
      // Date.now() reaches its time) is sent by running again at once.
      if (next !== null && next <= now && held.length === 0 && claimed.length === 0) return null;
      return next;
    },
    /** Resolves once no attempt is in flight: the ones started by passes so far have their outcome recorded. */
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.all(inFlight.values());
    },
  };
}
export type AlertDispatcher = ReturnType<typeof createAlertDispatcher>;
