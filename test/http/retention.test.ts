import { parseAge } from '../../src/retention';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, newCallSid, newSiprecSid } from '../helpers/twilio-requests';

const DAY = 86_400_000;

/** Inserts calls with one session and two events each, received `ageDays` ago. */
function seed(t: TestApp, count: number, ageDays: number): string[] {
  const at = Date.now() - ageDays * DAY;
  const call = t.db.prepare('INSERT INTO calls (call_sid, account_sid, created_at) VALUES (?, ?, ?)');
  const session = t.db.prepare(`INSERT INTO siprec_sessions (call_sid, name, siprec_sid, state, created_at, updated_at) VALUES (?, 'rec', ?, 'stopped', ?, ?)`);
  const event = t.db.prepare(`INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, received_at, payload) VALUES (?, ?, ?, ?, ?, '{}')`);
  const sids: string[] = [];
  t.db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const callSid = newCallSid();
      const siprecSid = newSiprecSid();
      call.run(callSid, t.config.twilio.accountSid, at);
      const id = session.run(callSid, siprecSid, at, at).lastInsertRowid;
      event.run(id, siprecSid, 'siprec-started', String(at), at);
      event.run(id, siprecSid, 'siprec-stopped', String(at + 1), at);
      sids.push(callSid);
    }
  })();
  return sids;
}
const count = (t: TestApp, table: string) => (t.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('retention purge', () => {
  let t: TestApp;
  beforeEach(() => (t = createTestApp()));
  afterEach(async () => t.close());

  it('deletes calls older than the cutoff with their sessions and events, and touches nothing younger', async () => {
    seed(t, 1200, 120);
    const young = seed(t, 30, 89);
    const alert = t.db.prepare(`INSERT INTO alert_outbox (kind, dedupe_key, severity, message, occurred_at, state, next_attempt_at, updated_at)
      VALUES ('siprec-error', ?, 'error', 'm', ?, ?, 0, 0)`);
    alert.run('old-delivered', Date.now() - 120 * DAY, 'delivered');
    alert.run('old-gave-up', Date.now() - 120 * DAY, 'gave_up');
    alert.run('old-pending', Date.now() - 120 * DAY, 'pending');
    alert.run('young', Date.now() - 89 * DAY, 'delivered');
    const result = await t.store.purgeOlderThan(Date.now() - 90 * DAY, 500);
    expect(result).toEqual({ calls: 1200, sessions: 1200, events: 2400, alerts: 2, batches: 3 });
    expect(t.db.prepare('SELECT dedupe_key FROM alert_outbox ORDER BY dedupe_key').all()).toEqual([{ dedupe_key: 'old-pending' }, { dedupe_key: 'young' }]);
    expect(count(t, 'calls')).toBe(30);
    expect(count(t, 'siprec_sessions')).toBe(30);
    expect(count(t, 'siprec_events')).toBe(60);
    expect((t.db.prepare('SELECT call_sid FROM calls ORDER BY call_sid').all() as Array<{ call_sid: string }>).map((r) => r.call_sid)).toEqual([...young].sort());
  });

  it('keeps live status callbacks flowing while a large purge runs', async () => {
    seed(t, 8_000, 200);
    let purgeDoneAt = 0;
    const purge = t.store.purgeOlderThan(Date.now() - 90 * DAY, 500).then((r) => ((purgeDoneAt = Date.now()), r));
    const acked: number[] = [];
    const callbacks = Array.from({ length: 40 }, () => buildStatusCallback());
    for (const cb of callbacks) {
      await t.postTwilio('/twilio/siprec-status', cb).expect(204);
      acked.push(Date.now());
    }
    const result = await purge;
    console.log(`purge: ${result.calls} calls in ${result.batches} batches; ${acked.filter((a) => a <= purgeDoneAt).length} of ${callbacks.length} callbacks acknowledged while it ran`);
    expect(result.calls).toBe(8_000);
    expect(acked.filter((a) => a <= purgeDoneAt).length).toBeGreaterThan(0);
    expect(count(t, 'siprec_events')).toBe(callbacks.length);
    expect(count(t, 'calls')).toBe(callbacks.length);
  });
});

describe('parseAge', () => {
  it.each([
    ['90d', 90 * DAY],
    ['36h', 36 * 3_600_000],
    ['45m', 45 * 60_000],
  ])('reads %s', (text, ms) => expect(parseAge(text)).toBe(ms));
  it.each(['', '90', '0d', '-1d', '1w', '1.5d', 'd'])('refuses %j', (text) => expect(parseAge(text)).toBeNull());
});
