import pino from 'pino';
import { createAlertDispatcher } from '../../src/alerts/dispatcher';
import { ledgerWriteFailedAlert } from '../../src/alerts/messages';
import { openStore } from '../../src/store';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { describeEachBackend } from '../helpers/backends';
import { FAST_FAILING_WRITES_MS, LOCKED_WRITE_ERROR } from '../helpers/test-app';
import { buildVoiceForm } from '../helpers/twilio-requests';

const WINDOW_MS = 5 * 60_000;

/** Polls in real time for at most `withinMs`. */
async function until(what: string, check: () => boolean, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describeEachBackend('ledger-write-failed alerts', (backend) => {
  let h: AlertHarness;
  let release: (() => Promise<void>) | undefined;
  /** Another connection takes the locks every write needs: writes fail after the short timeout. */
  const lock = async () => void (release = await h.t.holdWrites());
  const unlock = async () => {
    await release?.();
    release = undefined;
  };
  beforeEach(async () => {
    // A short write timeout: the store gives up on the locks quickly, as it would on a failing disk.
    h = await startAlertHarness({ backend, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] });
  });
  afterEach(async () => {
    await unlock();
    await h.close();
  });

  const unrecordedCall = async () => {
    const form = buildVoiceForm();
    const res = await h.t.postTwilio('/twilio/voice', form).expect(200);
    expect(res.text).toContain('<Siprec'); // the call comes first
    return form.CallSid!;
  };
  /** The alerts in the outbox table, not those held in memory. */
  const outbox = async () =>
    (await h.t.store.alerts.list(100)).filter((a) => !a.held).map(({ kind, state, attempts, callSid }) => ({ kind, state, attempts, callSid }));

  it('is sent from memory while the database is locked, once per 5 minutes, and moved to the outbox when it writes again', async () => {
    await lock();
    const first = await unrecordedCall();
    h.clock.advance(1000);
    await unrecordedCall(); // same 5-minute window: no second alert
    expect(await h.t.metrics.ledgerWriteFailures.get()).toMatchObject({ values: [{ value: 2 }] });

    await h.dispatch();
    expect(h.receiver.accepted().map((r) => r.json)).toEqual([
      expect.objectContaining({
        kind: 'ledger-write-failed',
        severity: 'critical',
        callSid: first,
        sessionName: null,
        connectorName: null,
        errorMessage: expect.stringMatching(LOCKED_WRITE_ERROR[backend]),
        message: expect.stringContaining(`The ledger could not record call ${first}: calls are answered but not recorded`),
      }),
    ]);
    expect(await h.alertsApi()).toEqual([expect.objectContaining({ kind: 'ledger-write-failed', state: 'delivered', attempts: 1, held: true })]);
    expect(await outbox()).toEqual([]);

    await unlock();
    await h.dispatch();
    expect(await outbox()).toEqual([{ kind: 'ledger-write-failed', state: 'delivered', attempts: 1, callSid: first }]);
    expect(await h.alertsApi()).toEqual([expect.objectContaining({ kind: 'ledger-write-failed', state: 'delivered', held: false })]);

    // Still the same window after the move: a new failure does not alert again.
    await lock();
    await unrecordedCall();
    await unlock();
    await h.drain();
    expect(h.receiver.requests).toHaveLength(1);
  });

  it('is sent once while its attempt waits for a slow receiver, however many passes run, also once the ledger writes again', async () => {
    const dispatcher = createAlertDispatcher({
      outbox: h.t.store.alerts,
      webhook: { url: h.receiver.url },
      logger: pino({ level: 'silent' }),
      metrics: h.t.metrics,
      clock: () => h.clock.now,
    });
    await lock();
    const callSid = await unrecordedCall();
    h.receiver.holdAnswers();
    await dispatcher.runOnce();
    await until('the held alert reaches the receiver', () => h.receiver.requests.length === 1);
    await dispatcher.runOnce();
    await unlock(); // the ledger writes again while the attempt is in flight
    await dispatcher.runOnce();
    await dispatcher.runOnce();
    expect(await outbox()).toEqual([]); // it stays in memory until its outcome is known
    await new Promise((resolve) => setTimeout(resolve, 200)); // a second attempt would be on its way by now
    expect(h.receiver.requests).toHaveLength(1);

    h.receiver.release(200);
    await dispatcher.settled();
    await dispatcher.runOnce();
    await dispatcher.settled();
    expect(await outbox()).toEqual([{ kind: 'ledger-write-failed', state: 'delivered', attempts: 1, callSid: callSid }]);
    expect(h.receiver.requests).toHaveLength(1);
  });

  it('retries from memory with backoff when the receiver fails too, and alerts again in a later window', async () => {
    h.receiver.failNext(500);
    await lock();
    await unrecordedCall();
    await h.dispatch();
    expect(await h.alertsApi()).toEqual([expect.objectContaining({ state: 'retrying', attempts: 1, held: true })]);
    h.clock.advance(1000);
    await h.dispatch();
    expect(h.receiver.requests.map((r) => r.answered)).toEqual([500, 200]);

    h.clock.advance(5 * 60_000);
    await unrecordedCall();
    await h.dispatch();
    expect(h.receiver.accepted()).toHaveLength(2);
  });

  it('is raised at most once per 5 minutes from the last one, even across a clock-aligned 5-minute edge', async () => {
    // 13 s before an edge of the old fixed buckets: a failure 26 s later is in the next bucket.
    h.clock.now = Math.ceil(h.clock.now / WINDOW_MS) * WINDOW_MS - 13_000;
    const firstAt = h.clock.now;
    await lock();
    await unrecordedCall();
    await h.dispatch();
    h.clock.advance(26_000);
    await unrecordedCall();
    h.clock.now = firstAt + WINDOW_MS - 1;
    await unrecordedCall();
    await h.drain();
    expect(h.receiver.accepted()).toHaveLength(1);

    h.clock.now = firstAt + WINDOW_MS;
    const next = await unrecordedCall();
    await h.drain();
    const sent = h.receiver.accepted();
    expect(sent.map((r) => [r.json.callSid, r.json.at])).toEqual([
      [expect.any(String), new Date(firstAt).toISOString()],
      [next, new Date(firstAt + WINDOW_MS).toISOString()],
    ]);
    // Two alerts, two ids: a receiver that drops repeats by id keeps both.
    expect(new Set(sent.map((r) => r.headers['x-siprec-control-alert-id'])).size).toBe(2);
  });

  it('keeps the window across a restart: a new store on the same database sees the last alert', async () => {
    await lock();
    await unrecordedCall();
    const firstAt = h.clock.now;
    await unlock();
    await h.dispatch(); // delivered and moved to the outbox
    expect(await outbox()).toEqual([expect.objectContaining({ kind: 'ledger-write-failed' })]);

    const restarted = await openStore(h.t.config.storage, { log: pino({ level: 'silent' }) });
    try {
      const failure = (at: number) => ledgerWriteFailedAlert({ callSid: 'CA00000000000000000000000000000009', error: new Error('disk I/O error'), at });
      expect(restarted.alerts.hold(failure(firstAt + WINDOW_MS - 1), 'pending')).toBe(false);
      expect(restarted.alerts.hold(failure(firstAt + WINDOW_MS), 'pending')).toBe(true);
    } finally {
      await restarted.close();
    }
  });

  it('counts failed writes of the voice and the stop webhook, as its help says', async () => {
    expect((await h.t.metrics.ledgerWriteFailures.get()).help).toMatch(/^Twilio webhooks \(voice and stop\) answered without /);
  });
});
