import Database from 'better-sqlite3';
import pino from 'pino';
import { createAlertDispatcher } from '../../src/alerts/dispatcher';
import { ledgerWriteFailedAlert } from '../../src/alerts/messages';
import { createSqliteStore } from '../../src/store/sqlite';
import { openDatabase } from '../../src/store/sqlite/open';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
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

describe('ledger-write-failed alerts', () => {
  let h: AlertHarness;
  let locker: Database.Database;
  beforeEach(async () => {
    // A short busy timeout: the store gives up on the lock quickly, as it would on a failing disk.
    h = await startAlertHarness({ db: { busyTimeoutMs: 20 } });
    locker = new Database(h.t.config.databasePath);
  });
  afterEach(async () => {
    if (locker.inTransaction) locker.exec('ROLLBACK');
    locker.close();
    await h.close();
  });

  const unrecordedCall = async () => {
    const form = buildVoiceForm();
    const res = await h.t.postTwilio('/twilio/voice', form).expect(200);
    expect(res.text).toContain('<Siprec'); // the call comes first
    return form.CallSid!;
  };
  const outbox = () => h.t.db.prepare('SELECT kind, state, attempts, call_sid FROM alert_outbox').all();

  it('is sent from memory while the database is locked, once per 5 minutes, and moved to the outbox when it writes again', async () => {
    locker.exec('BEGIN IMMEDIATE');
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
        errorMessage: expect.stringContaining('database is locked'),
        message: expect.stringContaining(`The ledger could not record call ${first}: calls are answered but not recorded`),
      }),
    ]);
    expect(await h.alertsApi()).toEqual([expect.objectContaining({ kind: 'ledger-write-failed', state: 'delivered', attempts: 1, held: true })]);
    expect(outbox()).toEqual([]);

    locker.exec('ROLLBACK');
    await h.dispatch();
    expect(outbox()).toEqual([{ kind: 'ledger-write-failed', state: 'delivered', attempts: 1, call_sid: first }]);
    expect(await h.alertsApi()).toEqual([expect.objectContaining({ kind: 'ledger-write-failed', state: 'delivered', held: false })]);

    // Still the same window after the move: a new failure does not alert again.
    locker.exec('BEGIN IMMEDIATE');
    await unrecordedCall();
    locker.exec('ROLLBACK');
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
    locker.exec('BEGIN IMMEDIATE');
    const callSid = await unrecordedCall();
    h.receiver.holdAnswers();
    await dispatcher.runOnce();
    await until('the held alert reaches the receiver', () => h.receiver.requests.length === 1);
    await dispatcher.runOnce();
    locker.exec('ROLLBACK'); // the ledger writes again while the attempt is in flight
    await dispatcher.runOnce();
    await dispatcher.runOnce();
    expect(outbox()).toEqual([]); // it stays in memory until its outcome is known
    await new Promise((resolve) => setTimeout(resolve, 200)); // a second attempt would be on its way by now
    expect(h.receiver.requests).toHaveLength(1);

    h.receiver.release(200);
    await dispatcher.settled();
    await dispatcher.runOnce();
    await dispatcher.settled();
    expect(outbox()).toEqual([{ kind: 'ledger-write-failed', state: 'delivered', attempts: 1, call_sid: callSid }]);
    expect(h.receiver.requests).toHaveLength(1);
  });

  it('retries from memory with backoff when the receiver fails too, and alerts again in a later window', async () => {
    h.receiver.failNext(500);
    locker.exec('BEGIN IMMEDIATE');
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
    locker.exec('BEGIN IMMEDIATE');
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
    locker.exec('BEGIN IMMEDIATE');
    await unrecordedCall();
    const firstAt = h.clock.now;
    locker.exec('ROLLBACK');
    await h.dispatch(); // delivered and moved to the outbox
    expect(outbox()).toEqual([expect.objectContaining({ kind: 'ledger-write-failed' })]);

    const restarted = createSqliteStore(openDatabase(h.t.config.databasePath));
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
