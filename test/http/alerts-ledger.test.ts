import Database from 'better-sqlite3';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { buildVoiceForm } from '../helpers/twilio-requests';

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
});
