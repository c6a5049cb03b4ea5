import request from 'supertest';
import type { AlertPolicy } from '../../src/alerts/types';
import type { CallDetail, EventView, IncomingEvent } from '../../src/store/store';
import { TEST_ACCOUNT_SID, TEST_ADMIN_TOKEN } from './env';
import type { TestApp } from './test-app';
import { newSiprecSid } from './twilio-requests';

export const BEARER = `Bearer ${TEST_ADMIN_TOKEN}`;
export const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** supertest against the operator API with the admin token. */
export function operatorApi(t: TestApp) {
  return {
    get: (path: string) => request(t.app).get(path).set('Authorization', BEARER),
    post: (path: string, body?: object) => {
      const req = request(t.app).post(path).set('Authorization', BEARER);
      return body === undefined ? req : req.send(body);
    },
  };
}

/**
 * All the ledger shows through the store: every session with its call and events, the counts, the
 * alerts, and the calls named in `callSids` (a call may have no session, and only its SID finds it).
 * Two snapshots are equal when a request changed nothing a reader can see, on either backend.
 */
export async function ledgerSnapshot(t: TestApp, callSids: string[] = []) {
  const page = await t.store.listSessions({ limit: 10_000, withTotal: true });
  if (page.nextCursor !== null) throw new Error('ledgerSnapshot reads one page of 10000 sessions; this ledger holds more');
  const sids = [...new Set([...callSids, ...page.sessions.map((s) => s.callSid)])].sort();
  const calls = await Promise.all(sids.map(async (sid) => [sid, await t.store.getCall(sid)] as const));
  return {
    calls: Object.fromEntries(calls),
    sessions: page.sessions,
    total: page.total,
    byState: await t.store.countSessionsByState(),
    alerts: await t.store.alerts.list(10_000),
  };
}

/**
 * Calls with a session, sessions and events the ledger holds, summed: it grows with anything a
 * request stores. (Under the test routes every call the webhooks store has a session.)
 */
export async function ledgerSize(t: TestApp): Promise<number> {
  const { calls, sessions } = await ledgerSnapshot(t);
  return Object.keys(calls).length + sessions.length + eventsOf(calls).length;
}

/** Every event the ledger holds, session by session. */
export async function ledgerEvents(t: TestApp): Promise<EventView[]> {
  return eventsOf((await ledgerSnapshot(t)).calls);
}

const eventsOf = (calls: Record<string, CallDetail | null>) => Object.values(calls).flatMap((c) => c?.sessions.flatMap((s) => s.events) ?? []);

/** A ledger with nothing in it, as ledgerSnapshot(t, callSids) shows it. */
export function emptyLedger(callSids: string[] = []) {
  return {
    calls: Object.fromEntries([...callSids].sort().map((sid) => [sid, null])),
    sessions: [],
    total: 0,
    byState: { requested: 0, active: 0, failed: 0, stopped: 0 },
    alerts: [],
  };
}

/** A status callback as the status-callback route would hand it to the store. */
export function applyEvent(t: TestApp, e: Pick<IncomingEvent, 'callSid' | 'siprecName'> & Partial<IncomingEvent>, alerts?: AlertPolicy) {
  const receivedAt = e.receivedAt ?? Date.now();
  return t.store.applyEvent({
    accountSid: TEST_ACCOUNT_SID,
    siprecSid: newSiprecSid(),
    event: 'siprec-started',
    timestampRaw: new Date(receivedAt).toISOString(),
    occurredAt: receivedAt,
    receivedAt,
    errorCode: null,
    errorMessage: null,
    payload: {},
    ...e,
  }, alerts);
}
