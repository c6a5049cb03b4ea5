import pino from 'pino';
import { parseAge, startRetention } from '../../src/retention';
import { eventually } from '../helpers/eventually';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { describeEachBackend } from '../helpers/backends';
import { callsStillThere, ledgerCounts, seedAlerts, seedCalls } from '../helpers/http-ledger-seed';
import { ledgerEvents, ledgerSnapshot, operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, newSiprecSid } from '../helpers/twilio-requests';

const DAY = 86_400_000;
/** Thousands of calls seeded through the store, two writes each, take longer than jest's 30 s default allows for. */
const SEEDED_TEST_MS = 180_000;

describeEachBackend('retention purge', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend })));
  afterEach(async () => t.close());

  it('deletes calls older than the cutoff with their sessions and events, and touches nothing younger', async () => {
    const old = await seedCalls(t, 1200, 120);
    const young = await seedCalls(t, 30, 89);
    const oldAt = (i: number) => Date.now() - 120 * DAY + i * 10 * 60_000;
    await seedAlerts(t, [
      { message: 'old-delivered', at: oldAt(0), state: 'delivered' },
      { message: 'old-gave-up', at: oldAt(1), state: 'gave_up' },
      { message: 'old-not-configured', at: oldAt(2), state: 'not_configured' },
      { message: 'old-pending', at: oldAt(3), state: 'pending' },
      { message: 'old-retrying', at: oldAt(4), state: 'retrying' },
      { message: 'young', at: Date.now() - 89 * DAY, state: 'delivered' },
    ]);
    const result = await t.store.purgeOlderThan(Date.now() - 90 * DAY, 500);
    expect(result).toEqual({ calls: 1200, sessions: 1200, events: 2400, alerts: 3, batches: 3 });
    // Every alert no longer waiting for delivery ages out (README, Privacy and retention).
    expect((await t.store.alerts.list(100)).map((a) => [a.message, a.held]).sort()).toEqual([
      ['old-pending', false],
      ['old-retrying', false],
      ['young', false],
    ]);
    expect(await ledgerCounts(t)).toEqual({ calls: 30, sessions: 30, events: 60 });
    expect(Object.keys((await ledgerSnapshot(t)).calls)).toEqual([...young].sort());
    expect(await callsStillThere(t, old)).toEqual([]);
  }, SEEDED_TEST_MS);

  it('keeps live status callbacks flowing while a large purge runs', async () => {
    const old = await seedCalls(t, 8_000, 200);
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
    expect(await ledgerCounts(t)).toEqual({ calls: callbacks.length, sessions: callbacks.length, events: callbacks.length });
    expect(await callsStillThere(t, old)).toEqual([]);
  }, SEEDED_TEST_MS);
});

describeEachBackend('retention counts from a call’s last activity', (backend) => {
  let t: TestApp;
  let now: number;
  beforeEach(async () => {
    now = Date.now() - 10 * 60_000;
    t = await createTestApp({ backend, clock: () => now });
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
    const old = await seedCalls(t, 6_000, 200);
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

    expect(await callsStillThere(t, old)).toEqual([]);
    const { calls, sessions } = await ledgerSnapshot(t);
    expect(Object.values(calls).map((c) => c!.call)).toEqual(
      live
        .map((c) => ({ callSid: c.callSid, accountSid: t.config.twilio.accountSid, from: '+14155550100', to: '+15559990000', direction: 'inbound', createdAt: new Date(T0).toISOString() }))
        .sort((a, b) => (a.callSid < b.callSid ? -1 : 1)),
    );
    expect(sessions).toHaveLength(live.length);
    const at = new Date(T0).toISOString();
    for (const s of sessions) expect(s).toEqual(expect.objectContaining({ connectorName: 'Gridspace_1', requestedAt: at, startedAt: at, state: 'stopped' }));
    const events = (await ledgerEvents(t)).map((e) => e.event);
    expect({ started: events.filter((e) => e === 'siprec-started').length, stopped: events.filter((e) => e === 'siprec-stopped').length, all: events.length }).toEqual({
      started: live.length,
      stopped: acked.length,
      all: live.length + acked.length,
    });
  }, SEEDED_TEST_MS);
});

describeEachBackend('every write that touches a call counts as its activity', (backend) => {
  let t: TestApp;
  let fake: FakeTwilio;
  let now: number;
  beforeEach(async () => {
    now = Date.now() - 60 * 60_000;
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = await createTestApp({ backend, clock: () => now, twilio: fake });
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

describeEachBackend('startRetention', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend })));
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
