import type { DeliveryState } from '../../src/alerts/types';
import { applyEvent, ledgerEvents, ledgerSnapshot } from './operator-api';
import type { TestApp } from './test-app';
import { newCallSid, newSiprecSid } from './twilio-requests';

const DAY = 86_400_000;

/**
 * Writes in flight at once while seeding: the writes of one moment commit together, and none waits
 * for a pooled connection longer than its deadline (PostgreSQL counts that wait in it).
 */
const AT_ONCE = 50;

/**
 * Calls with one stopped session and two events each, received `ageDays` ago: written through the
 * store as Twilio's callbacks for sessions the ledger did not know, with the receipt time given.
 * Returns their CallSids.
 */
export async function seedCalls(t: TestApp, count: number, ageDays: number): Promise<string[]> {
  const at = Date.now() - ageDays * DAY;
  const sids = Array.from({ length: count }, () => newCallSid());
  for (let i = 0; i < count; i += AT_ONCE) {
    await Promise.all(
      sids.slice(i, i + AT_ONCE).map(async (callSid) => {
        const siprecSid = newSiprecSid();
        await applyEvent(t, { callSid, siprecName: 'rec', siprecSid, event: 'siprec-started', timestampRaw: String(at), occurredAt: at, receivedAt: at });
        await applyEvent(t, { callSid, siprecName: 'rec', siprecSid, event: 'siprec-stopped', timestampRaw: String(at + 1), occurredAt: at + 1, receivedAt: at });
      }),
    );
  }
  return sids;
}

/**
 * Outbox alerts in a given delivery state, raised at `at` (each named by its message): held, given
 * their state, then moved to the table, all through the store. The held buffer takes one alert per
 * ledger-alert window, so their times must lie further apart than that.
 */
export async function seedAlerts(t: TestApp, alerts: Array<{ message: string; at: number; state: DeliveryState }>): Promise<void> {
  for (const a of alerts) {
    const initial = a.state === 'not_configured' ? 'not_configured' : 'pending';
    const alert = { kind: 'siprec-error', dedupeKey: a.message, severity: 'error', message: a.message, callSid: null, sessionName: null, connectorName: null, errorCode: null, errorMessage: null, at: a.at } as const;
    if (!t.store.alerts.hold(alert, initial)) throw new Error(`alert "${a.message}" was not held: raised within the window of another`);
    const id = t.store.alerts.dueHeld(Number.MAX_SAFE_INTEGER).find((h) => h.message === a.message)?.id;
    if (a.state !== initial) {
      t.store.alerts.updateHeld(id!, {
        state: a.state,
        attempts: 1,
        nextAttemptAt: a.state === 'retrying' ? a.at + 60_000 : null,
        lastError: a.state === 'delivered' ? null : 'refused',
        deliveredAt: a.state === 'delivered' ? a.at : null,
      });
    }
  }
  const moved = await t.store.alerts.flushHeld(Date.now());
  if (moved !== alerts.length) throw new Error(`${moved} of ${alerts.length} seeded alerts reached the outbox`);
}

/** The CallSids of `callSids` the ledger still knows: getCall finds a call left without sessions too. */
export async function callsStillThere(t: TestApp, callSids: string[]): Promise<string[]> {
  const left: string[] = [];
  for (let i = 0; i < callSids.length; i += AT_ONCE) {
    const found = await Promise.all(callSids.slice(i, i + AT_ONCE).map(async (sid) => ((await t.store.getCall(sid)) ? [sid] : [])));
    left.push(...found.flat());
  }
  return left;
}

/** What the ledger holds, counted as its tables would be: calls (each with a session here), sessions, events. */
export async function ledgerCounts(t: TestApp): Promise<{ calls: number; sessions: number; events: number }> {
  const { calls, sessions } = await ledgerSnapshot(t);
  return { calls: Object.keys(calls).length, sessions: sessions.length, events: (await ledgerEvents(t)).length };
}
