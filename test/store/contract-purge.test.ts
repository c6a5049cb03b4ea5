import { MAX_CALL_IDLE_MS } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { callback, DAY, HOUR, MINUTE, newCall, newSession, POLICY, T0, useLedger } from '../helpers/store-contract';
import { newCallSid, newSiprecSid } from '../helpers/twilio-requests';

// purgeOlderThan: calls idle since before the cutoff go with their sessions and events, in batches
// that commit on their own; live calls stay unless idle longer than any call lasts; alerts age out
// once no longer waiting for delivery.
describeEachBackend('store contract: retention purge', (backend) => {
  const ledger = useLedger(backend);

  /** `n` calls with one stopped session and two events each, all written at `at`. */
  async function finishedCalls(n: number, at: number): Promise<string[]> {
    const sids: string[] = [];
    for (let done = 0; done < n; done += 50) {
      const chunk = Array.from({ length: Math.min(50, n - done) }, () => ({ callSid: newCallSid(), siprecSid: newSiprecSid() }));
      await Promise.all(
        chunk.map(async ({ callSid, siprecSid }) => {
          await ledger.store.recordRequested(newCall({ callSid, receivedAt: at }), [newSession('rec')]);
          await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'rec' }, { receivedAt: at }));
          await ledger.store.applyEvent(callback({ callSid, siprecSid, siprecName: 'rec' }, { event: 'siprec-stopped', receivedAt: at, occurredAt: at + 1 }));
        }),
      );
      sids.push(...chunk.map((c) => c.callSid));
    }
    return sids;
  }
  const present = async (callSids: string[]) => (await Promise.all(callSids.map((s) => ledger.store.getCall(s)))).filter((d) => d !== null).length;

  it('deletes the calls idle since before the cutoff with their sessions and events, in batches, and touches nothing younger', async () => {
    const old = await finishedCalls(25, T0 - 100 * DAY);
    const young = await finishedCalls(5, T0 - 89 * DAY);
    const before = await Promise.all(young.map((s) => ledger.store.getCall(s)));
    expect(await ledger.store.purgeOlderThan(T0 - 90 * DAY, 10, T0)).toEqual({ calls: 25, sessions: 25, events: 50, alerts: 0, batches: 3 });
    expect(await present(old)).toBe(0);
    expect(await Promise.all(young.map((s) => ledger.store.getCall(s)))).toEqual(before);
    expect((await ledger.store.listSessions({ limit: 100, withTotal: true })).total).toBe(5);
    expect(await ledger.store.purgeOlderThan(T0 - 90 * DAY, 10, T0)).toEqual({ calls: 0, sessions: 0, events: 0, alerts: 0, batches: 0 });
  });

  it('ages out alerts older than the cutoff once they no longer wait for delivery', async () => {
    const old = T0 - 120 * DAY;
    const raise = async (at: number, initialState: 'pending' | 'not_configured' = 'pending') => {
      const callSid = newCallSid();
      await ledger.store.applyEvent(callback({ callSid }, { event: 'siprec-error', receivedAt: at }), { ...POLICY, initialState });
      return callSid;
    };
    const calls = { delivered: await raise(old), gaveUp: await raise(old), notConfigured: await raise(old, 'not_configured'), pending: await raise(old), retrying: await raise(old), young: await raise(T0 - 89 * DAY) };
    const listed = await ledger.store.alerts.list(100);
    const idOf = (callSid: string) => listed.find((a) => a.callSid === callSid)!.id;
    const outcome = (state: 'delivered' | 'gave_up' | 'retrying') => ({ state, attempts: 1, nextAttemptAt: state === 'retrying' ? T0 + HOUR : null, lastError: null, deliveredAt: state === 'delivered' ? old : null });
    await ledger.store.alerts.recordAttempt(idOf(calls.delivered), outcome('delivered'), old);
    await ledger.store.alerts.recordAttempt(idOf(calls.gaveUp), outcome('gave_up'), old);
    await ledger.store.alerts.recordAttempt(idOf(calls.retrying), outcome('retrying'), old);
    await ledger.store.alerts.recordAttempt(idOf(calls.young), outcome('delivered'), T0 - 89 * DAY);

    const result = await ledger.store.purgeOlderThan(T0 - 90 * DAY, 500, T0);
    expect(result).toMatchObject({ calls: 5, alerts: 3 });
    expect((await ledger.store.alerts.list(100)).map((a) => [a.callSid, a.state]).sort()).toEqual(
      [
        [calls.pending, 'pending'],
        [calls.retrying, 'retrying'],
        [calls.young, 'delivered'],
      ].sort(),
    );
  });

  it('counts from the call’s newest activity, not from when it began', async () => {
    const call = newCall();
    const siprecSid = newSiprecSid();
    await ledger.store.recordRequested(call, [newSession('rec')]);
    await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecSid, siprecName: 'rec' }));
    await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecSid, siprecName: 'rec' }, { event: 'siprec-stopped', receivedAt: T0 + 5 * MINUTE }));
    expect((await ledger.store.purgeOlderThan(T0 + 4 * MINUTE, 500, T0 + 8 * MINUTE)).calls).toBe(0);
    expect(await ledger.store.getCall(call.callSid)).not.toBeNull();
    expect((await ledger.store.purgeOlderThan(T0 + 6 * MINUTE, 500, T0 + 8 * MINUTE)).calls).toBe(1);
    expect(await ledger.store.getCall(call.callSid)).toBeNull();
  });

  it.each([
    ['active', 'siprec-started'],
    ['requested', null],
  ])('keeps a call with a session still %s for as long as a call can last, whole, and purges it after', async (_state, kind) => {
    const call = newCall();
    await ledger.store.recordRequested(call, [newSession('open'), newSession('done')]);
    if (kind) await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'open' }, { event: kind }));
    await ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'done' }, { event: 'siprec-stopped' }));
    const before = await ledger.store.getCall(call.callSid);
    const cutoff = T0 + MINUTE;
    expect((await ledger.store.purgeOlderThan(cutoff, 500, T0 + MAX_CALL_IDLE_MS)).calls).toBe(0);
    expect(await ledger.store.getCall(call.callSid)).toEqual(before);
    expect((await ledger.store.purgeOlderThan(cutoff, 500, T0 + MAX_CALL_IDLE_MS + 1)).calls).toBe(1);
  });

  it('counts every write that touches a call as its activity', async () => {
    let now = T0;
    const call = newCall();
    const sid = newSiprecSid();
    const at = () => ({ ...call, from: null, to: null, direction: null, receivedAt: now });
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['the voice webhook', () => ledger.store.recordRequested({ ...call, receivedAt: now }, [newSession('rec')])],
      ['a callback of a known session', () => ledger.store.applyEvent(callback({ callSid: call.callSid, siprecSid: sid, siprecName: 'rec' }, { receivedAt: now }))],
      ['a callback of a session the ledger did not know', () => ledger.store.applyEvent(callback({ callSid: call.callSid, siprecName: 'elsewhere' }, { receivedAt: now }))],
      ['a stop', () => ledger.store.markStopRequested(at(), ['rec'], now)],
      ['a REST start’s reservation', () => ledger.store.reserveStart(at(), newSession('extra'), 5)],
      ['a REST start recorded', () => ledger.store.recordStarted(at(), newSession('extra', { siprecSid: newSiprecSid() }), now)],
    ];
    // Idle since before `now`, and past any open session's limit: purged only if the write just made
    // left the call's activity behind it.
    const purgedIfIdleBeforeNow = async () => (await ledger.store.purgeOlderThan(now, 500, now + MAX_CALL_IDLE_MS + HOUR)).calls;
    const kept: string[] = [];
    for (const [what, step] of steps) {
      now += MINUTE;
      await step();
      if ((await purgedIfIdleBeforeNow()) !== 0) break;
      kept.push(what);
    }
    expect(kept).toEqual(steps.map(([what]) => what));
    now += MINUTE;
    expect(await purgedIfIdleBeforeNow()).toBe(1);
  });

  it('lets writes interleave with a purge in batches, and never deletes what a write acknowledged meanwhile', async () => {
    const now = T0 + 10 * MINUTE;
    await finishedCalls(300, T0 - 200 * DAY);
    // Live calls whose activity is older than the cutoff: their sessions are active, so they stay.
    const live = Array.from({ length: 40 }, () => ({ callSid: newCallSid(), siprecSid: newSiprecSid() }));
    for (const c of live) {
      await ledger.store.recordRequested(newCall({ callSid: c.callSid, receivedAt: T0 }), [newSession('rec')]);
      await ledger.store.applyEvent(callback({ ...c, siprecName: 'rec' }, { receivedAt: T0 }));
    }
    let purgeDoneAt = 0;
    const purge = ledger.store.purgeOlderThan(now - MINUTE, 20, now).then((r) => ((purgeDoneAt = Date.now()), r));
    const acked: number[] = [];
    const queue = [...live];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          await ledger.store.applyEvent(callback({ ...c, siprecName: 'rec' }, { event: 'siprec-stopped', receivedAt: now, occurredAt: now }));
          acked.push(Date.now());
        }
      }),
    );
    const result = await purge;
    const whilePurging = acked.filter((a) => a <= purgeDoneAt).length;
    console.log(`[${backend}] purge: ${result.calls} calls in ${result.batches} batches; ${whilePurging} of ${acked.length} writes acknowledged while it ran`);
    expect(result).toMatchObject({ calls: 300, sessions: 300, events: 600, batches: 15 });
    expect(whilePurging).toBeGreaterThan(0);
    for (const c of live) {
      const detail = await ledger.store.getCall(c.callSid);
      expect({ c, sessions: detail?.sessions.map((s) => [s.state, s.events.length]) }).toEqual({ c, sessions: [['stopped', 2]] });
    }
    expect((await ledger.store.listSessions({ limit: 1, withTotal: true })).total).toBe(live.length);
  });

  it('finds nothing to do on an empty ledger', async () => {
    expect(await ledger.store.purgeOlderThan(T0)).toEqual({ calls: 0, sessions: 0, events: 0, alerts: 0, batches: 0 });
  });
});
