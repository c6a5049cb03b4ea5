import request from 'supertest';
import type { IncomingEvent } from '../../src/store/store';
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

/** Every row of the ledger, to prove a refused request changed nothing. */
export function ledgerRows(t: TestApp) {
  return {
    calls: t.db.prepare('SELECT * FROM calls ORDER BY call_sid').all(),
    sessions: t.db.prepare('SELECT * FROM siprec_sessions ORDER BY id').all(),
    events: t.db.prepare('SELECT * FROM siprec_events ORDER BY id').all(),
  };
}

/** A status callback as the status-callback route would hand it to the store. */
export function applyEvent(t: TestApp, e: Pick<IncomingEvent, 'callSid' | 'siprecName'> & Partial<IncomingEvent>) {
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
  });
}
