import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Metrics } from '../metrics';
import type { Store } from '../store/store';
import { createAlertDispatcher } from './dispatcher';
import { runEvery, runWhenDue } from './periodic';
import { createStartTimeoutScanner } from './start-timeout';
import type { AlertPolicy } from './types';

/** How soon a new alert is first sent, at most; retries are sent when due (periodic.ts runWhenDue). */
export const DISPATCH_EVERY_MS = 1_000;
export const SCAN_EVERY_MS = 5_000;

/** What the routes and the store need to raise alerts, from the configuration. */
export function alertPolicy(alerts: Config['alerts']): AlertPolicy {
  return {
    initialState: alerts.webhookUrl ? 'pending' : 'not_configured',
    burst: { count: alerts.errorBurstCount, windowMs: alerts.errorBurstMinutes * 60_000 },
  };
}

export interface StartAlertsOptions {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  clock?: () => number;
}

/** Starts the dispatcher and the start-timeout scanner in the background; returns a stop function. */
export function startAlerts({ config, store, logger, metrics, clock = Date.now }: StartAlertsOptions): () => Promise<void> {
  const log = logger.child({ component: 'alerts' });
  const { webhookUrl, webhookSecret, startTimeoutSeconds } = config.alerts;
  const dispatcher = createAlertDispatcher({
    outbox: store.alerts,
    webhook: webhookUrl ? { url: webhookUrl, secret: webhookSecret } : undefined,
    logger: log,
    metrics,
    clock,
    // An attempt's outcome is in: a pass now arms its retry at its time, or uses the slot it freed.
    onSettled: () => dispatch.wake(),
  });
  const scanner = createStartTimeoutScanner({
    outbox: store.alerts,
    timeoutMs: startTimeoutSeconds * 1000,
    initialState: alertPolicy(config.alerts).initialState,
    logger: log,
    clock,
  });
  if (!webhookUrl) log.info('ALERT_WEBHOOK_URL is not set: alerts are recorded for the status page and not sent');
  const dispatch = runWhenDue(DISPATCH_EVERY_MS, () => dispatcher.runOnce(), (err) => log.error({ err }, 'alert dispatch failed'), clock);
  const stopScan = runEvery(SCAN_EVERY_MS, () => scanner.runOnce(), (err) => log.warn({ err }, 'start-timeout scan failed; will try again'));
  return async () => {
    await Promise.all([stopScan(), dispatch.stop()]);
    // An attempt in flight ends within the webhook timeout; its outcome is recorded before the ledger closes.
    await dispatcher.settled();
    // Alerts held in memory die with the process unless the ledger takes them now.
    await store.alerts.flushHeld(clock()).catch((err) => log.error({ err }, 'alerts held in memory are lost at shutdown'));
  };
}
