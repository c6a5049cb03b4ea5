import pino from 'pino';
import { parseAge, startRetention } from '../../src/retention';
import { eventually } from '../helpers/eventually';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, newCallSid, newSiprecSid } from '../helpers/twilio-requests';

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
    alert.run('old-not-configured', Date.now() - 120 * DAY, 'not_configured');
    alert.run('old-pending', Date.now() - 120 * DAY, 'pending');
    alert.run('old-retrying', Date.now() - 120 * DAY, 'retrying');
    alert.run('young', Date.now() - 89 * DAY, 'delivered');
    const result = await t.store.purgeOlderThan(Date.now() - 90 * DAY, 500);
    expect(result).toEqual({ calls: 1200, sessions: 1200, events: 2400, alerts: 3, batches: 3 });
    // Every alert no longer waiting for delivery ages out (README, Privacy and retention).
    expect(t.db.prepare('SELECT dedupe_key FROM alert_outbox ORDER BY dedupe_key').all()).toEqual([
      { dedupe_key: 'old-pending' },
      { dedupe_key: 'old-retrying' },
      { dedupe_key: 'young' },
    ]);
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

describe('retention counts from a call’s last activity', () => {
  let t: TestApp;
  let now: number;
  beforeEach(() => {
    now = Date.now() - 10 * 60_000;
    t = createTestApp({ clock: () => now });
  });
  afterEach(async () => t.close());

  const MINUTE = 60_000;
  const started = (callSid: string, name: string, siprecSid = newSiprecSid()) =>
    buildStatusCallback({ CallSid: callSid, SiprecName: name, SiprecSid: siprecSid, Timestamp: new Date(now).toISOString() });

  it('keeps a live call that is older than the cutoff, so a later callback finds it whole', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    const sid = newSiprecSid();
    await t.postTwilio('/twilio/siprec-status', started(form.CallSid!, 'Gridspace_1', sid)).expect(204);
    const before = (await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(200)).body;

    now += 62_000;
    const result = await t.store.purgeOlderThan(now - MINUTE, 500, now);
    expect(result.calls).toBe(0);
    await t.postTwilio('/twilio/siprec-status', { ...started(form.CallSid!, 'Gridspace_1', sid), SiprecEvent: 'siprec-stopped' }).expect(204);

    const after = (await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(200)).body;
    expect(after.call).toEqual(before.call);
    expect(after.call).toMatchObject({ from: '+14155550100', to: '+15559990000', direction: 'inbound' });
    expect(after.sessions).toEqual([
      expect.objectContaining({ name: 'Gridspace_1', connectorName: 'Gridspace_1', state: 'stopped', requestedAt: before.sessions[0].requestedAt, startedAt: before.sessions[0].startedAt }),
    ]);
    expect(after.sessions[0].requestedAt).not.toBeNull();
    expect(after.sessions[0].events.map((e: { event: string }) => e.event)).toEqual(['siprec-started', 'siprec-stopped']);
  });

  it('purges a call once it has been idle longer than the cutoff, counting from its newest event', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    const sid = newSiprecSid();
    await t.postTwilio('/twilio/siprec-status', started(form.CallSid!, 'Gridspace_1', sid)).expect(204);
    now += 5 * MINUTE;
    await t.postTwilio('/twilio/siprec-status', { ...started(form.CallSid!, 'Gridspace_1', sid), SiprecEvent: 'siprec-stopped' }).expect(204);

    now += 3 * MINUTE; // 8 minutes after the call began, 3 after its last event
    expect((await t.store.purgeOlderThan(now - 4 * MINUTE, 500, now)).calls).toBe(0);
    expect((await t.store.purgeOlderThan(now - 2 * MINUTE, 500, now)).calls).toBe(1);
    await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(404);
  });

  it('keeps a call with an open session for as long as a call can last, and purges it after', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', started(form.CallSid!, 'Gridspace_1')).expect(204);
    now += 24 * 3_600_000; // still active, and could still be live
    expect((await t.store.purgeOlderThan(now - MINUTE, 500, now)).calls).toBe(0);
    now += 2 * 3_600_000; // no call lasts 26 hours: its siprec-stopped was lost
    expect((await t.store.purgeOlderThan(now - MINUTE, 500, now)).calls).toBe(1);
  });

  it('never deletes an acknowledged callback nor leaves an orphan call while callbacks arrive during a batched purge', async () => {
    seed(t, 6_000, 200);
    const T0 = now;
    const live: Array<{ callSid: string; siprecSid: string }> = [];
    for (let i = 0; i < 150; i++) {
      const form = buildVoiceForm({ To: '+15559990000' });
      await t.postTwilio('/twilio/voice', form).expect(200);
      const siprecSid = newSiprecSid();
      await t.postTwilio('/twilio/siprec-status', started(form.CallSid!, 'Gridspace_1', siprecSid)).expect(204);
      live.push({ callSid: form.CallSid!, siprecSid });
    }

    now = Date.now(); // ten minutes on: every call is older than the cutoff, the live ones too
    let purgeDoneAt = 0;
    const purge = t.store.purgeOlderThan(now - MINUTE, 100, now).then((r) => ((purgeDoneAt = Date.now()), r));
    const acked: Array<{ callSid: string; at: number }> = [];
    const queue = [...live];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          const stop = buildStatusCallback({ CallSid: c.callSid, SiprecName: 'Gridspace_1', SiprecSid: c.siprecSid, SiprecEvent: 'siprec-stopped' });
          await t.postTwilio('/twilio/siprec-status', stop).expect(204);
          acked.push({ callSid: c.callSid, at: Date.now() });
        }
      }),
    );
    const result = await purge;
    const whilePurging = acked.filter((a) => a.at <= purgeDoneAt).length;
    console.log(`purge: ${result.calls} calls in ${result.batches} batches; ${whilePurging} of ${acked.length} callbacks acknowledged while it ran`);
    expect(whilePurging).toBeGreaterThan(0);
    expect(result.calls).toBe(6_000);

    const calls = t.db.prepare('SELECT call_sid, from_number, to_number, direction, created_at FROM calls ORDER BY call_sid').all();
    expect(calls).toEqual(
      live.map((c) => ({ call_sid: c.callSid, from_number: '+14155550100', to_number: '+15559990000', direction: 'inbound', created_at: T0 })).sort((a, b) => (a.call_sid < b.call_sid ? -1 : 1)),
    );
    const sessions = t.db.prepare('SELECT call_sid, connector_name, requested_at, started_at, state FROM siprec_sessions').all() as Array<Record<string, unknown>>;
    expect(sessions).toHaveLength(live.length);
    for (const s of sessions) expect(s).toEqual(expect.objectContaining({ connector_name: 'Gridspace_1', requested_at: T0, started_at: T0, state: 'stopped' }));
    const events = t.db.prepare('SELECT event, count(*) AS n FROM siprec_events GROUP BY event ORDER BY event').all();
    expect(events).toEqual([
      { event: 'siprec-started', n: live.length },
      { event: 'siprec-stopped', n: acked.length },
    ]);
  });
});

describe('every write that touches a call counts as its activity', () => {
  let t: TestApp;
  let fake: FakeTwilio;
  let now: number;
  beforeEach(async () => {
    now = Date.now() - 60 * 60_000;
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = createTestApp({ clock: () => now, twilio: fake });
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
  });

  // Idle since before `now` (and, a day on, past any open session's limit): purged only if the write
  // just made left the call's last activity behind it.
  const purgedIfIdleBeforeNow = async () => (await t.store.purgeOlderThan(now, 500, now + 26 * 3_600_000)).calls;

  it('keeps the call after each of the voice webhook, a callback, a new session’s callback, a stop and a REST start and stop', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    const callSid = form.CallSid!;
    fake.calls.add(callSid);
    const siprecSid = newSiprecSid();
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['the voice webhook', () => t.postTwilio('/twilio/voice', form).expect(200)],
      ['a callback of a known session', () => t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: callSid, SiprecName: 'Gridspace_1', SiprecSid: siprecSid, Timestamp: new Date(now).toISOString() })).expect(204)],
      ['a callback of a session the ledger did not know', () => t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: callSid, SiprecName: 'elsewhere', Timestamp: new Date(now).toISOString() })).expect(204)],
      ['a stop from the call flow', () => t.postTwilio('/twilio/siprec-stop?name=Gridspace_1', form).expect(200)],
      ['a start through the API', () => operatorApi(t).post(`/api/calls/${callSid}/siprec`, { connectorName: 'Compliance_SRS', name: 'extra' }).expect(201)],
      ['a stop through the API', () => operatorApi(t).post(`/api/calls/${callSid}/siprec/extra/stop`, {}).expect(202)],
    ];
    const kept: string[] = [];
    for (const [what, step] of steps) {
      now += 60_000;
      await step();
      if ((await purgedIfIdleBeforeNow()) === 0) kept.push(what);
      else break;
    }
    expect(kept).toEqual(steps.map(([what]) => what));
    // The control: a minute on with no write, the same purge deletes the call.
    now += 60_000;
    expect(await purgedIfIdleBeforeNow()).toBe(1);
  });

  it('keeps a call that a callback for an unknown call has just created', async () => {
    now += 60_000;
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ Timestamp: new Date(now).toISOString() })).expect(204);
    expect(await purgedIfIdleBeforeNow()).toBe(0);
    now += 60_000;
    expect(await purgedIfIdleBeforeNow()).toBe(1);
  });
});

describe('startRetention', () => {
  let t: TestApp;
  beforeEach(() => (t = createTestApp()));
  afterEach(async () => t.close());

  it('judges how long a session has been idle by its own clock, as it judges the cutoff', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'Gridspace_1' })).expect(204);
    // By this clock the session has been active, with no callback, for 30 hours: its call is over.
    const clock = () => Date.now() + 30 * 3_600_000;
    const done: unknown[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void done.push(JSON.parse(line)) });
    const stop = startRetention({ store: t.store, retentionDays: 1, logger, clock, everyMs: 3_600_000 });
    try {
      await eventually('the first retention run', () => done.some((l) => (l as { msg?: string }).msg === 'retention purge done'));
    } finally {
      await stop();
    }
    expect(done).toContainEqual(expect.objectContaining({ msg: 'retention purge done', calls: 1 }));
    await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(404);
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
