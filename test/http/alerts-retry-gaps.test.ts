import pino from 'pino';
import { startAlerts } from '../../src/alerts';
import { DEFAULT_RETRY } from '../../src/alerts/backoff';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { startAlertReceiver, type AlertReceiver } from '../helpers/alert-receiver';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm } from '../helpers/twilio-requests';

/** How late a retry may start on a loaded machine; the sender's old once-a-second check ran up to 1 s late. */
const LATE_MS = 400;

describe('retry gaps of the running alert sender', () => {
  let receiver: AlertReceiver;
  let t: TestApp;
  let stop: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    receiver = await startAlertReceiver();
    t = createTestApp({ env: { ALERT_WEBHOOK_URL: receiver.url } });
  });
  afterEach(async () => {
    await stop?.();
    await t.close();
    await receiver.close();
  });

  it('retries 1 s, 2 s and 4 s after each failure, as documented, not up to a second later', async () => {
    expect(DEFAULT_RETRY).toMatchObject({ firstDelayMs: 1_000 });
    receiver.failNext(500, 500, 500);
    stop = startAlerts({ config: t.config, store: t.store, logger: pino({ level: 'silent' }), metrics: t.metrics });
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'gridspace', SiprecEvent: 'siprec-error' })).expect(204);

    await receiver.waitForAccepted(1, 15_000);
    const arrivals = receiver.requests.map((r) => r.arrivedAt);
    expect(receiver.requests.map((r) => r.answered)).toEqual([500, 500, 500, 200]);
    const gaps = arrivals.slice(1).map((at, i) => Math.round(at - arrivals[i]!));
    // A gap is the delay after the failure plus the time the failed answer took to come back; 5 ms
    // for the rounding of the clocks involved.
    const documented = [1_000, 2_000, 4_000];
    const outOfBounds = gaps.filter((gap, i) => gap < documented[i]! - 5 || gap >= documented[i]! + LATE_MS);
    expect({ gaps, outOfBounds }).toEqual({ gaps, outOfBounds: [] });
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
