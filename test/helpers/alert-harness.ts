import pino from 'pino';
import request from 'supertest';
import { alertPolicy } from '../../src/alerts';
import { createAlertDispatcher, type DispatcherOptions } from '../../src/alerts/dispatcher';
import { createStartTimeoutScanner } from '../../src/alerts/start-timeout';
import type { AlertView } from '../../src/alerts/types';
import { startAlertReceiver, type AlertReceiver } from './alert-receiver';
import type { BackendName } from './backends';
import { BEARER } from './operator-api';
import { createTestApp, type TestApp } from './test-app';
import { buildStatusCallback, buildVoiceForm } from './twilio-requests';

export const ALERT_SECRET = 'alert-webhook-secret-0123456789';

export interface AlertHarness {
  t: TestApp;
  receiver: AlertReceiver;
  /** The clock every part reads; tests move it by hand. */
  clock: { now: number; advance(ms: number): void };
  /**
   * One background pass of each, as the timers in startAlerts would run them; dispatch also waits for
   * the attempts it started, and says what the pass said: when the next alert is due.
   */
  dispatch(): Promise<number | null>;
  /** Passes until one sends nothing: a pass sends at most a batch. */
  drain(): Promise<void>;
  scan(): Promise<number>;
  /** Every log line the alert parts wrote, parsed. */
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
  alertsApi(): Promise<AlertView[]>;
  answeredCall(): Promise<string>;
  postError(callSid: string, name: string, extra?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real app over a fresh ledger (on options.backend, SQLite by default), a real receiver on
 * 127.0.0.1, and the real dispatcher and scanner driven one pass at a time on a clock the test moves. Starts at the real time, so the
 * signature's timestamp is one a receiver would accept.
 */
export async function startAlertHarness(
  options: { env?: Record<string, string>; webhook?: boolean; backend?: BackendName; writeTimeoutMs?: number; dispatcher?: Partial<DispatcherOptions> } = {},
): Promise<AlertHarness> {
  const receiver = await startAlertReceiver();
  const clock = { now: Date.now(), advance: (ms: number) => void (clock.now += ms) };
  const webhookEnv: Record<string, string> = options.webhook === false ? {} : { ALERT_WEBHOOK_URL: receiver.url, ALERT_WEBHOOK_SECRET: ALERT_SECRET };
  const t = await createTestApp({ env: { ...webhookEnv, ...options.env }, backend: options.backend, writeTimeoutMs: options.writeTimeoutMs, clock: () => clock.now });
  const logs: AlertHarness['logs'] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as AlertHarness['logs'][number]) });
  const { webhookUrl, webhookSecret, startTimeoutSeconds } = t.config.alerts;
  const dispatcher = createAlertDispatcher({
    outbox: t.store.alerts,
    webhook: webhookUrl ? { url: webhookUrl, secret: webhookSecret } : undefined,
    logger,
    metrics: t.metrics,
    clock: () => clock.now,
    ...options.dispatcher,
  });
  const scanner = createStartTimeoutScanner({
    outbox: t.store.alerts,
    timeoutMs: startTimeoutSeconds * 1000,
    initialState: alertPolicy(t.config.alerts).initialState,
    logger,
    clock: () => clock.now,
  });

  return {
    t,
    receiver,
    clock,
    logs,
    dispatch: async () => {
      const next = await dispatcher.runOnce();
      await dispatcher.settled();
      return next;
    },
    drain: async () => {
      for (let sent = -1; sent !== receiver.requests.length; ) {
        sent = receiver.requests.length;
        await dispatcher.runOnce();
        await dispatcher.settled();
      }
    },
    scan: () => scanner.runOnce(),
    alertsApi: async () => ((await request(t.app).get('/api/alerts').set('Authorization', BEARER).expect(200)).body as { alerts: AlertView[] }).alerts,
    answeredCall: async () => {
      const form = buildVoiceForm();
      await t.postTwilio('/twilio/voice', form).expect(200);
      return form.CallSid!;
    },
    postError: async (callSid, name, extra = {}) => {
      const cb = buildStatusCallback({ CallSid: callSid, SiprecName: name, SiprecEvent: 'siprec-error', Timestamp: new Date(clock.now).toISOString(), ...extra });
      await t.postTwilio('/twilio/siprec-status', cb).expect(204);
    },
    close: async () => {
      await t.close();
      await receiver.close();
    },
  };
}
