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
  /** Most alerts sent in one pass. */
  batchSize?: number;
}

const outcomeOf = (s: DeliveryStatus) => (s.state === 'delivered' ? 'delivered' : s.state === 'gave_up' ? 'gave_up' : 'failed');

/**
 * Sends due alerts to the webhook, away from any Twilio request. Held alerts (raised while the
 * ledger could not write) are sent from memory and moved to the outbox as soon as it writes again.
 */
export function createAlertDispatcher(options: DispatcherOptions) {
  const { outbox, webhook, logger, metrics, clock = Date.now, retry = DEFAULT_RETRY, batchSize = 10 } = options;
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

  return {
    /**
     * One pass: move held alerts into the outbox if the ledger writes again, then send what is due.
     * Returns when the next alert is due, for the caller to run again then (null: none known).
     */
    async runOnce(): Promise<number | null> {
      const now = clock();
      await outbox.flushHeld(now).catch((err) => logger.debug({ err }, 'held alerts stay in memory: the ledger still cannot write'));
      if (!webhook) return null;
      const held = outbox.dueHeld(now);
      const claimed = await outbox.claimDue(now, leaseMs, batchSize).catch((err) => {
        logger.warn({ err }, 'alert outbox unavailable; will try again');
        return [] as Alert[];
      });
      await Promise.all([
        ...held.map((a) => deliver(webhook, a, (s) => outbox.updateHeld(a.id, s))),
        ...claimed.map((a) => deliver(webhook, a, (s) => outbox.recordAttempt(a.id, s, clock()))),
      ]);
      const next = await outbox.nextDueAt().catch(() => null);
      // Due and yet nothing was sent: the outbox could not be claimed. Wait for the next poll, not a busy loop.
      if (next !== null && next <= clock() && held.length === 0 && claimed.length === 0) return null;
      return next;
    },
  };
}
export type AlertDispatcher = ReturnType<typeof createAlertDispatcher>;
