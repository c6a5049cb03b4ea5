import pino from 'pino';
import { DISPATCH_EVERY_MS, startAlerts } from '../../src/alerts';
import { DEFAULT_RETRY } from '../../src/alerts/backoff';
import { createAlertDispatcher } from '../../src/alerts/dispatcher';
import { describeEachBackend } from '../helpers/backends';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { startAlertReceiver, type AlertReceiver } from '../helpers/alert-receiver';
import { createTestApp, FAST_FAILING_WRITES_MS, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm } from '../helpers/twilio-requests';

/** How long each failed answer takes to come back, on the test's clock. */
const ANSWER_MS = 20;

/**
 * Waits, in real time and without timers (they are faked here), for what the sender does over real
 * sockets and the writer thread; fires fake timers that are due now, as the event loop would.
 */
async function settles(what: string, check: () => boolean | Promise<boolean>, withinMs = 5_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    jest.advanceTimersByTime(0);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Polls in real time, with real timers, for at most `withinMs`. */
async function until(what: string, check: () => boolean, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/*
 * SQLite only: jest's fake timers drive the sender here, and postgres.js schedules its connections
 * (a new one, and any reconnect's backoff) on those same timers, so its queries would wait for fake
 * time. The gaps are the dispatcher's, the same on either backend; 'a dispatcher pass' below checks
 * the outbox's due times on both, on a test clock.
 */
describe('retry gaps of the running alert sender', () => {
  const backend = 'sqlite';
  let receiver: AlertReceiver;
  let t: TestApp;
  let stop: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    receiver = await startAlertReceiver();
    t = await createTestApp({ backend, env: { ALERT_WEBHOOK_URL: receiver.url } });
  });
  afterEach(async () => {
    jest.useRealTimers();
    // The receiver closes first: an attempt it still holds ends then, and stop (which waits for it) returns.
    const stopping = stop?.();
    stop = undefined;
    await receiver.close();
    await stopping;
    await t.close();
  });

  /** The outbox table's alerts (not those held in memory), with when each is next due in ms. */
  const outboxRows = async () =>
    (await t.store.alerts.list(100))
      .filter((a) => !a.held)
      .map((a) => ({ sessionName: a.sessionName, attempts: a.attempts, nextAttemptAt: a.nextAttemptAt === null ? null : Date.parse(a.nextAttemptAt) }));
  const outboxRow = async () => {
    const rows = await outboxRows();
    if (rows.length !== 1) throw new Error(`expected one alert in the outbox, found ${rows.length}`);
    return rows[0]!;
  };

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
      await settles(`attempt ${n} recorded as failed`, async () => (await outboxRow()).attempts === n);
      expect((await outboxRow()).nextAttemptAt).toBe(failedAt.at(-1)! + delayMs);

      jest.advanceTimersByTime(delayMs - 1);
      // Nothing is sent early: give a wrong attempt every chance to arrive.
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(receiver.requests).toHaveLength(n);
      jest.advanceTimersByTime(1);
      await settles(`attempt ${n + 1} sent ${delayMs} ms after attempt ${n} failed`, () => receiver.requests.length === n + 1);
    }
    receiver.release(200);
    await settles('the fourth attempt recorded as delivered', async () => (await outboxRow()).attempts === 4);

    const arrivals = receiver.requests.map((r) => r.arrivedAt);
    expect(arrivals.slice(1).map((at, i) => at - failedAt[i]!)).toEqual([1_000, 2_000, 4_000]);
    expect(receiver.accepted()).toHaveLength(1);
  });

  it('sends a retry at its time while another alert’s attempt still waits for its answer', async () => {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    for (const name of ['gridspace', 'compliance']) {
      await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: name, SiprecEvent: 'siprec-error' })).expect(204);
    }
    receiver.failNext(0, 500); // the first to arrive is never answered (the 5 s timeout ends it); the other fails at once
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance'] });
    stop = startAlerts({ config: t.config, store: t.store, logger: pino({ level: 'silent' }), metrics: t.metrics });

    jest.advanceTimersByTime(DISPATCH_EVERY_MS);
    await settles('both alerts reach the receiver', () => receiver.requests.length === 2);
    await settles('the one answered 500 recorded as failed', async () => (await outboxRows()).some((r) => r.attempts === 1));
    const failedAt = Date.now();
    const failed = (await outboxRows()).find((r) => r.attempts === 1)!;
    expect(failed.nextAttemptAt).toBe(failedAt + 1_000);

    jest.advanceTimersByTime(1_000); // still within the stalled attempt's 5 s
    await settles('the retry sent 1 s after its failure, the stalled attempt still open', () => receiver.requests.length === 3);
    expect(receiver.requests[2]).toMatchObject({ arrivedAt: failedAt + 1_000, answered: 200, json: expect.objectContaining({ sessionName: failed.sessionName }) });
  });
});

describeEachBackend('stopping the running alert sender', (backend) => {
  let receiver: AlertReceiver;
  let t: TestApp;
  let stop: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    receiver = await startAlertReceiver();
    t = await createTestApp({ backend, env: { ALERT_WEBHOOK_URL: receiver.url } });
  });
  afterEach(async () => {
    const stopping = stop?.();
    stop = undefined;
    await receiver.close();
    await stopping;
    await t.close();
  });

  it('waits for an attempt in flight and records its outcome before the ledger may close', async () => {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'gridspace', SiprecEvent: 'siprec-error' })).expect(204);
    receiver.holdAnswers();
    stop = startAlerts({ config: t.config, store: t.store, logger: pino({ level: 'silent' }), metrics: t.metrics });
    await until('the attempt reaches the receiver', () => receiver.requests.length === 1);

    const stopping = stop();
    stop = undefined;
    let stopped = false;
    void stopping.then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    receiver.release(200);
    await stopping;
    expect((await t.store.alerts.list(100)).map(({ state, attempts, held }) => ({ state, attempts, held }))).toEqual([{ state: 'delivered', attempts: 1, held: false }]);
  });
});

describeEachBackend('a dispatcher pass', (backend) => {
  let h: AlertHarness;
  afterEach(async () => h.close());

  it('says when the next attempt is due, so that the sender wakes then', async () => {
    h = await startAlertHarness({ backend });
    expect(await h.dispatch()).toBeNull(); // nothing waits: the sender polls for new alerts
    h.receiver.failNext(500, 500);
    await h.postError(await h.answeredCall(), 'gridspace');
    await h.dispatch(); // the first attempt fails
    // The pass run once an attempt has ended (the sender is woken for it) arms the retry.
    expect(await h.dispatch()).toBe(h.clock.now + 1_000);
    h.clock.advance(1_000);
    await h.dispatch();
    expect(await h.dispatch()).toBe(h.clock.now + 2_000);
    h.clock.advance(2_000);
    await h.dispatch();
    expect(await h.dispatch()).toBeNull();
    expect(h.receiver.accepted()).toHaveLength(1);
  });

  it('runs again at once when the retry fell due during a pass that began a millisecond before it', async () => {
    // Node's timers can fire a millisecond before Date.now() reaches their time; the millisecond may
    // then tick over while the pass reads the outbox. Each read of this clock moves it on by `tick`.
    let tick = 0;
    h = await startAlertHarness({ backend, dispatcher: { clock: () => ((h.clock.now += tick), h.clock.now - tick) } });
    h.receiver.failNext(500);
    await h.postError(await h.answeredCall(), 'gridspace');
    await h.dispatch();
    const [waiting, ...others] = await h.t.store.alerts.list(100);
    expect({ others, held: waiting!.held }).toEqual({ others: [], held: false });
    const due = Date.parse(waiting!.nextAttemptAt!);

    h.clock.now = due - 1;
    tick = 1;
    const next = await h.dispatch();
    tick = 0;
    expect(h.receiver.requests).toHaveLength(1); // not due when the pass began
    expect(next).toBe(due); // so run again now that it is, not at the next poll a second later
    await h.dispatch();
    expect(h.receiver.requests.map((r) => r.answered)).toEqual([500, 200]);
  });

  it('keeps at most batchSize attempts in flight, however many passes run meanwhile', async () => {
    h = await startAlertHarness({ backend });
    for (let call = 0; call < 2; call++) {
      const callSid = await h.answeredCall();
      for (const name of ['gridspace', 'compliance']) await h.postError(callSid, name);
    }
    h.receiver.holdAnswers();
    const settledAttempts: number[] = [];
    const dispatcher = createAlertDispatcher({
      outbox: h.t.store.alerts,
      webhook: { url: h.receiver.url },
      logger: pino({ level: 'silent' }),
      metrics: h.t.metrics,
      clock: () => h.clock.now,
      batchSize: 3,
      onSettled: () => settledAttempts.push(h.receiver.requests.length),
    });
    for (let pass = 0; pass < 3; pass++) await dispatcher.runOnce();
    await until('three attempts reach the receiver', () => h.receiver.requests.length === 3);
    for (let pass = 0; pass < 3; pass++) await dispatcher.runOnce();
    await new Promise((resolve) => setTimeout(resolve, 200)); // a fourth would be on its way by now
    expect(h.receiver.requests).toHaveLength(3);

    h.receiver.release(200);
    await h.receiver.waitForAccepted(1);
    await until('the attempt recorded', () => settledAttempts.length === 1);
    await dispatcher.runOnce(); // as the sender runs when woken: the free slot takes the fourth
    await until('the fourth attempt reaches the receiver', () => h.receiver.requests.length === 4);
    for (let i = 0; i < 3; i++) h.receiver.release(200);
    await dispatcher.settled();
    expect(h.receiver.accepted()).toHaveLength(4);
    expect(new Set(h.receiver.requests.map((r) => String(r.json.sessionName) + String(r.json.callSid))).size).toBe(4);
  });

  it('does not ask to run again at once when a due alert cannot be claimed: no busy loop on a failing ledger', async () => {
    h = await startAlertHarness({ backend, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] });
    await h.postError(await h.answeredCall(), 'gridspace');
    const release = await h.t.holdWrites();
    try {
      expect(await h.dispatch()).toBeNull();
      expect(h.receiver.requests).toEqual([]);
    } finally {
      await release();
    }
    await h.dispatch(); // the ledger writes again: sent
    expect(h.receiver.accepted()).toHaveLength(1);
    expect(await h.dispatch()).toBeNull(); // and nothing waits any more
  });
});
