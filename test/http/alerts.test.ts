import { createHmac } from 'node:crypto';
import request from 'supertest';
import { alertPolicy } from '../../src/alerts';
import { verifyAlertSignature } from '../../src/alerts/signer';
import type { InitialState } from '../../src/alerts/types';
import { StoreUnavailableError } from '../../src/store/store';
import { ALERT_SECRET, startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { describeEachBackend } from '../helpers/backends';
import { applyEvent, BEARER, ledgerEvents } from '../helpers/operator-api';
import { FAST_FAILING_WRITES_MS } from '../helpers/test-app';
import { buildStatusCallback, newSiprecSid } from '../helpers/twilio-requests';

/** The alerts in the outbox table (not held in memory), oldest first. */
const outboxRows = async (h: AlertHarness) =>
  (await h.t.store.alerts.list(1000))
    .filter((a) => !a.held)
    .reverse()
    .map(({ kind, state, attempts }) => ({ kind, state, attempts }));
const deliveries = async (h: AlertHarness, kind: string, outcome: string) =>
  (await h.t.metrics.alertDeliveries.get()).values.find((v) => v.labels.kind === kind && v.labels.outcome === outcome)?.value ?? 0;

describeEachBackend('siprec-error alerts', (backend) => {
  let h: AlertHarness;
  beforeEach(async () => (h = await startAlertHarness({ backend })));
  afterEach(async () => h.close());

  it('sends one signed alert with the fields of the error, once per session, and records it delivered', async () => {
    const callSid = await h.answeredCall();
    const SiprecSid = newSiprecSid(); // one session: Twilio's SID for it is the same in every callback
    await h.postError(callSid, 'compliance', { SiprecSid, SiprecErrorCode: '64101', SiprecError: 'SRS <down> & out' });
    h.clock.advance(1000);
    await h.postError(callSid, 'compliance', { SiprecSid, SiprecErrorCode: '64102', SiprecError: 'again' });
    const raisedAt = new Date(h.clock.now - 1000).toISOString();

    await h.dispatch();
    await h.dispatch();

    expect(h.receiver.requests).toHaveLength(1);
    const [got] = h.receiver.requests;
    expect(got!.json).toEqual({
      kind: 'siprec-error',
      severity: 'error',
      message: `SIPREC session "compliance" on call ${callSid} (connector Compliance_SRS) failed: 64101 SRS <down> & out`,
      callSid,
      sessionName: 'compliance',
      connectorName: 'Compliance_SRS',
      errorCode: '64101',
      errorMessage: 'SRS <down> & out',
      at: raisedAt,
      // Escaped for Slack, which would read <…> as a link or a mention.
      text: `[siprec-control] ERROR siprec-error: SIPREC session "compliance" on call ${callSid} (connector Compliance_SRS) failed: 64101 SRS &lt;down&gt; &amp; out`,
    });
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['x-siprec-control-alert-id']).toMatch(/^[0-9a-f]{32}$/);

    const alerts = await h.alertsApi();
    expect(alerts).toEqual([
      expect.objectContaining({ kind: 'siprec-error', callSid, sessionName: 'compliance', state: 'delivered', attempts: 1, lastError: null, held: false }),
    ]);
    expect(await deliveries(h, 'siprec-error', 'delivered')).toBe(1);
  });

  it('signs the body so that the receiver can verify it and refuse a replay', async () => {
    await h.postError(await h.answeredCall(), 'gridspace');
    await h.dispatch();
    const [got] = h.receiver.accepted();
    const timestamp = got!.headers['x-siprec-control-timestamp'] as string;
    const signature = got!.headers['x-siprec-control-signature'] as string;

    expect(timestamp).toBe(String(Math.floor(h.clock.now / 1000)));
    expect(signature).toBe(createHmac('sha256', ALERT_SECRET).update(`${timestamp}.${got!.raw}`).digest('hex'));

    const check = (over: Partial<Parameters<typeof verifyAlertSignature>[0]>) =>
      verifyAlertSignature({ secret: ALERT_SECRET, body: got!.raw, timestamp, signature, nowMs: h.clock.now, ...over });
    expect(check({})).toBe(true);
    expect(check({ body: got!.raw.replace('gridspace', 'gridspacE') })).toBe(false);
    expect(check({ secret: 'another-secret-0123456789' })).toBe(false);
    expect(check({ timestamp: String(Number(timestamp) + 1) })).toBe(false);
    expect(check({ nowMs: h.clock.now + 301_000 })).toBe(false);
  });

  it('is stored in the same transaction as the error event: when the database refuses the alert, it keeps no event either', async () => {
    const callSid = await h.answeredCall();
    const event = { callSid, siprecName: 'gridspace', siprecSid: `SR${'a'.repeat(32)}`, event: 'siprec-error', timestampRaw: '2026-01-01T00:00:00Z', occurredAt: Date.parse('2026-01-01T00:00:00Z'), receivedAt: h.clock.now };
    const policy = alertPolicy(h.t.config.alerts);
    // A delivery state outside the outbox's CHECK constraint: the alert's own insert fails in the
    // database, inside the write that stores the event (a real constraint, on either backend).
    const refused = { ...policy, initialState: 'lost' as unknown as InitialState };
    await expect(applyEvent(h.t, event, refused)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await ledgerEvents(h.t)).toEqual([]);
    expect(await outboxRows(h)).toEqual([]);

    expect(await applyEvent(h.t, event, policy)).toBe('stored');
    expect(await ledgerEvents(h.t)).toEqual([expect.objectContaining({ event: 'siprec-error' })]);
    expect(await outboxRows(h)).toEqual([{ kind: 'siprec-error', state: 'pending', attempts: 0 }]);
  });

  it('answers 503 so that Twilio retries when the write that would store the event and its alert fails', async () => {
    await h.close();
    h = await startAlertHarness({ backend, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] });
    const callSid = await h.answeredCall();
    const release = await h.t.holdWrites();
    try {
      await h.t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: callSid, SiprecName: 'gridspace', SiprecEvent: 'siprec-error' })).expect(503);
    } finally {
      await release();
    }
    expect(await ledgerEvents(h.t)).toEqual([]);
    expect(await outboxRows(h)).toEqual([]);
  });
});

describeEachBackend('delivery to a failing receiver', (backend) => {
  let h: AlertHarness;
  afterEach(async () => h.close());

  it('retries with exponential backoff and delivers exactly once when the receiver fails twice, then succeeds', async () => {
    h = await startAlertHarness({ backend });
    h.receiver.failNext(500, 500);
    await h.postError(await h.answeredCall(), 'gridspace');

    await h.dispatch();
    expect((await h.alertsApi())[0]).toMatchObject({
      state: 'retrying',
      attempts: 1,
      lastError: 'receiver answered 500: failing on purpose',
      nextAttemptAt: new Date(h.clock.now + 1000).toISOString(),
    });
    await h.dispatch(); // not due yet
    expect(h.receiver.requests).toHaveLength(1);

    h.clock.advance(1000);
    await h.dispatch();
    expect((await h.alertsApi())[0]).toMatchObject({ state: 'retrying', attempts: 2, nextAttemptAt: new Date(h.clock.now + 2000).toISOString() });
    h.clock.advance(1999);
    await h.dispatch();
    expect(h.receiver.requests).toHaveLength(2);
    h.clock.advance(1);
    await h.dispatch();

    h.clock.advance(3_600_000);
    await h.dispatch();
    expect(h.receiver.requests.map((r) => r.answered)).toEqual([500, 500, 200]);
    expect(h.receiver.accepted()).toHaveLength(1);
    expect((await h.alertsApi())[0]).toMatchObject({ state: 'delivered', attempts: 3, lastError: null, nextAttemptAt: null });
    expect(await deliveries(h, 'siprec-error', 'failed')).toBe(2);
    expect(await deliveries(h, 'siprec-error', 'delivered')).toBe(1);
  });

  it('gives up after the last attempt, with a logged warning and the gave_up state', async () => {
    h = await startAlertHarness({ backend });
    h.receiver.answerAlways(503);
    await h.postError(await h.answeredCall(), 'gridspace');
    for (let i = 0; i < 12; i++) {
      await h.dispatch();
      h.clock.advance(300_000);
    }
    expect(h.receiver.requests).toHaveLength(10);
    expect((await h.alertsApi())[0]).toMatchObject({ state: 'gave_up', attempts: 10, lastError: 'receiver answered 503: failing on purpose', nextAttemptAt: null });
    expect(h.logs.filter((l) => l.level === 40 && l.msg === 'alert NOT delivered: giving up')).toHaveLength(1);
    expect(await deliveries(h, 'siprec-error', 'gave_up')).toBe(1);
  });

  it('abandons an attempt the receiver never answers, after the timeout', async () => {
    h = await startAlertHarness({ backend, dispatcher: { timeoutMs: 200 } });
    h.receiver.failNext(0);
    await h.postError(await h.answeredCall(), 'gridspace');
    await h.dispatch();
    expect((await h.alertsApi())[0]).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'no answer within 200 ms' });
    h.clock.advance(1000);
    await h.dispatch();
    expect(h.receiver.accepted()).toHaveLength(1);
  });
});

describeEachBackend('error-burst alerts', (backend) => {
  let h: AlertHarness;
  beforeEach(async () => (h = await startAlertHarness({ backend })));
  afterEach(async () => h.close());

  const errorsOn = async (n: number, name: string) => {
    for (let i = 0; i < n; i++) {
      await h.postError(await h.answeredCall(), name);
      h.clock.advance(1000);
    }
  };
  const bursts = () => h.receiver.accepted().filter((r) => r.json.kind === 'error-burst');

  it('fires once when one connector has more than 5 errors within 5 minutes, not once per error', async () => {
    await errorsOn(5, 'gridspace');
    await errorsOn(5, 'compliance'); // another connector: its errors do not add up with Gridspace_1's
    await h.dispatch();
    expect(bursts()).toHaveLength(0);

    await errorsOn(3, 'gridspace');
    await h.drain();
    expect(bursts().map((r) => r.json)).toEqual([
      expect.objectContaining({
        kind: 'error-burst',
        severity: 'critical',
        connectorName: 'Gridspace_1',
        callSid: null,
        sessionName: null,
        message: '6 SIPREC errors on connector Gridspace_1 within 5 min',
      }),
    ]);
    expect(h.receiver.accepted().filter((r) => r.json.kind === 'siprec-error')).toHaveLength(13);
  });

  it('fires again for a burst in a later window', async () => {
    await errorsOn(6, 'gridspace');
    h.clock.advance(5 * 60_000);
    await errorsOn(6, 'gridspace');
    await h.drain();
    expect(bursts()).toHaveLength(2);
  });
});

describeEachBackend('without ALERT_WEBHOOK_URL', (backend) => {
  let h: AlertHarness;
  beforeEach(async () => (h = await startAlertHarness({ backend, webhook: false })));
  afterEach(async () => h.close());

  it('records the alerts as not_configured for the status page and sends nothing', async () => {
    await h.postError(await h.answeredCall(), 'gridspace', { SiprecErrorCode: '64101' });
    await h.dispatch();
    h.clock.advance(600_000);
    await h.dispatch();
    expect(h.receiver.requests).toEqual([]);
    const res = await request(h.t.app).get('/api/alerts').set('Authorization', BEARER).expect(200);
    expect(res.body.delivery).toEqual({ configured: false, signed: false });
    expect(res.body.alerts).toEqual([expect.objectContaining({ kind: 'siprec-error', errorCode: '64101', state: 'not_configured', attempts: 0, nextAttemptAt: null })]);
  });
});

describeEachBackend('GET /api/alerts', (backend) => {
  let h: AlertHarness;
  beforeEach(async () => (h = await startAlertHarness({ backend })));
  afterEach(async () => h.close());

  it('lists the newest first, up to limit, with the delivery settings', async () => {
    for (const name of ['gridspace', 'compliance']) {
      await h.postError(await h.answeredCall(), name);
      h.clock.advance(1000);
    }
    const res = await request(h.t.app).get('/api/alerts?limit=1').set('Authorization', BEARER).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      delivery: { configured: true, signed: true },
      alerts: [
        {
          id: expect.any(String),
          kind: 'siprec-error',
          severity: 'error',
          message: expect.stringContaining('"compliance"'),
          callSid: expect.stringMatching(/^CA/),
          sessionName: 'compliance',
          connectorName: 'Compliance_SRS',
          errorCode: null,
          errorMessage: null,
          at: new Date(h.clock.now - 1000).toISOString(),
          state: 'pending',
          attempts: 0,
          lastError: null,
          nextAttemptAt: new Date(h.clock.now - 1000).toISOString(),
          deliveredAt: null,
          held: false,
        },
      ],
    });
  });

  it('needs the admin token', async () => {
    const res = await request(h.t.app).get('/api/alerts').expect(401);
    expect(res.body).toEqual({ error: 'authentication required' });
  });

  it.each([['limit=0'], ['limit=501'], ['limit=abc'], ['limit=1&limit=2'], ['state=pending']])('refuses ?%s with 400', async (query) => {
    const res = await request(h.t.app).get(`/api/alerts?${query}`).set('Authorization', BEARER).expect(400);
    expect(res.body.error).toBe('query is malformed');
  });
});
