import pino from 'pino';
import { DISPATCH_EVERY_MS, startAlerts } from '../../src/alerts';
import { DEFAULT_RETRY } from '../../src/alerts/backoff';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { startAlertReceiver, type AlertReceiver } from '../helpers/alert-receiver';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm } from '../helpers/twilio-requests';

/** How long each failed answer takes to come back, on the test's clock. */
const ANSWER_MS = 20;

/**
 * Waits, in real time and without timers (they are faked here), for what the sender does over real
 * sockets and the writer thread; fires fake timers that are due now, as the event loop would.
 */
async function settles(what: string, check: () => boolean, withinMs = 5_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    jest.advanceTimersByTime(0);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('retry gaps of the running alert sender', () => {
  let receiver: AlertReceiver;
  let t: TestApp;
  let stop: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    receiver = await startAlertReceiver();
    t = createTestApp({ env: { ALERT_WEBHOOK_URL: receiver.url } });
  });
  afterEach(async () => {
    jest.useRealTimers();
    await stop?.();
    await t.close();
    await receiver.close();
  });

  const outboxRow = () => t.db.prepare('SELECT attempts, next_attempt_at FROM alert_outbox').get() as { attempts: number; next_attempt_at: number };

  it('sends each retry 1 s, 2 s and 4 s after the failure before it, as documented, not at the next tick', async () => {
    expect(DEFAULT_RETRY).toMatchObject({ firstDelayMs: 1_000, maxDelayMs: 300_000 });
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'gridspace', SiprecEvent: 'siprec-error' })).expect(204);
    receiver.holdAnswers();
    // The sender's timers and clock are faked; sockets, the writer thread and performance.now() are real.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance'] });
    stop = startAlerts({ config: t.config, store: t.store, logger: pino({ level: 'silent' }), metrics: t.metrics });

    jest.advanceTimersByTime(DISPATCH_EVERY_MS); // the first poll finds the new alert
    const failedAt: number[] = [];
    for (const delayMs of [1_000, 2_000, 4_000]) {
      const n = failedAt.length + 1;
      await settles(`attempt ${n} reaches the receiver`, () => receiver.requests.length === n);
      jest.advanceTimersByTime(ANSWER_MS);
      receiver.release(500);
      failedAt.push(Date.now());
      await settles(`attempt ${n} recorded as failed`, () => outboxRow().attempts === n);
      expect(outboxRow().next_attempt_at).toBe(failedAt.at(-1)! + delayMs);

      jest.advanceTimersByTime(delayMs - 1);
      // Nothing is sent early: give a wrong attempt every chance to arrive.
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(receiver.requests).toHaveLength(n);
      jest.advanceTimersByTime(1);
      await settles(`attempt ${n + 1} sent ${delayMs} ms after attempt ${n} failed`, () => receiver.requests.length === n + 1);
    }
    receiver.release(200);
    await settles('the fourth attempt recorded as delivered', () => outboxRow().attempts === 4);

    const arrivals = receiver.requests.map((r) => r.arrivedAt);
    expect(arrivals.slice(1).map((at, i) => at - failedAt[i]!)).toEqual([1_000, 2_000, 4_000]);
    expect(receiver.accepted()).toHaveLength(1);
  });
});

describe('a dispatcher pass', () => {
  let h: AlertHarness;
  afterEach(async () => h.close());

  it('says when the next attempt is due, so that the sender wakes then', async () => {
    h = await startAlertHarness();
    expect(await h.dispatch()).toBeNull(); // nothing waits: the sender polls for new alerts
    h.receiver.failNext(500, 500);
    await h.postError(await h.answeredCall(), 'gridspace');
    expect(await h.dispatch()).toBe(h.clock.now + 1_000);
    h.clock.advance(1_000);
    expect(await h.dispatch()).toBe(h.clock.now + 2_000);
    h.clock.advance(2_000);
    expect(await h.dispatch()).toBeNull();
    expect(h.receiver.accepted()).toHaveLength(1);
  });

  it('does not ask to run again at once when a due alert cannot be claimed: no busy loop on a failing ledger', async () => {
    h = await startAlertHarness({ db: { busyTimeoutMs: 20 } });
    await h.postError(await h.answeredCall(), 'gridspace');
    const release = h.t.holdWriteLock();
    try {
      expect(await h.dispatch()).toBeNull();
      expect(h.receiver.requests).toEqual([]);
    } finally {
      release();
    }
    expect(await h.dispatch()).toBeNull();
    expect(h.receiver.accepted()).toHaveLength(1);
  });
});
