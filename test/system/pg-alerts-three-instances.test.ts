import { startAlertReceiver, type AlertReceiver } from '../helpers/alert-receiver';
import { buildSignedCallbacks } from '../helpers/callback-load';
import { tempDir, TEST_PUBLIC_BASE_URL, type TempDir } from '../helpers/env';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';
import { percentile, pgServerEnv, serverFleet, sleep } from '../helpers/pg-system';
import type { ServerProcess } from '../helpers/server-process';
import { buildStatusCallback, buildVoiceForm, newSiprecSid, sign } from '../helpers/twilio-requests';
import { postCallback, postVoice } from '../helpers/webhook-client';

const INSTANCES = 3;
const ERRORS = 50;
const CONNECTOR = 'Gridspace_1';
// One recorder per call, so each error is its own session's and its own alert.
const ROUTES = { routes: [{ siprec: [{ connectorName: CONNECTOR, name: 'gridspace' }], then: { dial: '+15551230000' } }] };
/** Past the last acceptance, how long to keep listening for a second delivery of anything. */
const LINGER_MS = 4_000;

const countBy = <T>(items: readonly T[], key: (t: T) => string) => {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
};

describeWithPostgres('three instances, one outbox: alerts for 50 siprec-error callbacks', () => {
  let dir: TempDir;
  let db: PgDatabase | undefined;
  let receiver: AlertReceiver | undefined;
  const fleet = serverFleet();
  beforeAll(async () => {
    dir = tempDir();
    db = await freshPgDatabase();
    receiver = await startAlertReceiver();
  });
  afterAll(async () => {
    await fleet.killAll();
    await receiver?.close();
    await db?.drop();
    dir.remove();
  });

  it('reach the receiver once each, none missing, and one error-burst', async () => {
    const env = pgServerEnv(
      dir,
      db!.url,
      // The start-timeout scan stays out of it: every session here is answered or failed within the test.
      { ALERT_WEBHOOK_URL: receiver!.url, ALERT_WEBHOOK_SECRET: 'alert-webhook-secret-0123456789', ALERT_START_TIMEOUT_SECONDS: '3600' },
      ROUTES,
    );
    const instances: ServerProcess[] = await Promise.all(Array.from({ length: INSTANCES }, () => fleet.start(env)));
    const at = (i: number) => instances[i % INSTANCES]!.url;

    // The calls are answered on one instance, their errors arrive on another.
    const callSids: string[] = [];
    for (let i = 0; i < ERRORS; i++) {
      const form = buildVoiceForm();
      const r = await postVoice(at(i), form);
      expect(r.status).toBe(200);
      callSids.push(form.CallSid!);
    }
    const url = TEST_PUBLIC_BASE_URL + '/twilio/siprec-status';
    const errors = callSids.map((CallSid, i) => {
      const form = buildStatusCallback({ CallSid, SiprecSid: newSiprecSid(), SiprecName: 'gridspace', SiprecEvent: 'siprec-error', ErrorCode: '1001', ErrorMessage: 'connector refused' });
      return { key: `${CallSid}#${i}`, body: new URLSearchParams(form).toString(), signature: sign(url, form) };
    });
    // For comparison: as many started callbacks at once, of other calls' sessions (no alert, no burst lock).
    const started = buildSignedCallbacks(ERRORS).filter((_, i) => i % 2 === 0);
    const startedMs = (await Promise.all(started.map((cb, i) => postCallback(at(i), cb)))).map((r) => (r.status === 204 ? r.ms : Number.POSITIVE_INFINITY));
    // All at once, as when a connector fails every live call together. A 503 is retried, as
    // Twilio would: the alerts of what was stored are the subject here, and the 503s a figure.
    const firstTries: Array<{ status: number; ms: number }> = [];
    const finals = await Promise.all(
      errors.map(async (cb, i) => {
        for (let attempt = 1; ; attempt++) {
          const r = await postCallback(at(i + attempt), cb).catch(() => ({ status: 0, ms: 0 }));
          if (attempt === 1) firstTries.push({ status: r.status, ms: r.ms });
          if (r.status !== 503 || attempt === 5) return r.status;
          await sleep(250);
        }
      }),
    );
    const refusedAtFirst = firstTries.filter((t) => t.status !== 204);
    if (refusedAtFirst.length > 0) {
      const why = instances.flatMap((s) => s.output().split('\n').filter((l) => l.includes('"level":50')).map((l) => l.slice(0, 300)));
      console.log(`siprec-error callbacks refused at first: ${refusedAtFirst.map((t) => `${t.status} in ${Math.round(t.ms)} ms`).join(', ')}\n${why.slice(0, 3).join('\n')}`);
    }
    expect(finals).toEqual(Array(ERRORS).fill(204));
    const sentAt = Date.now();

    // 50 siprec-error alerts and the connector's one error-burst, then a while longer for repeats.
    await receiver!.waitForAccepted(ERRORS + 1, 30_000).catch(() => undefined);
    const allInAt = Date.now();
    await sleep(LINGER_MS);

    const accepted = receiver!.accepted();
    const byId = countBy(accepted, (r) => String(r.headers['x-siprec-control-alert-id']));
    const errorAlerts = accepted.filter((r) => r.json.kind === 'siprec-error');
    const byCall = countBy(errorAlerts, (r) => String(r.json.callSid));
    const bursts = accepted.filter((r) => r.json.kind === 'error-burst');
    const figures = {
      instances: INSTANCES,
      errorCallbacks: ERRORS,
      requestsToReceiver: receiver!.requests.length,
      accepted: accepted.length,
      distinctIds: byId.size,
      deliveredTwice: [...byId.values()].filter((n) => n > 1).length,
      siprecErrorAlerts: errorAlerts.length,
      callsAlerted: byCall.size,
      missing: callSids.filter((c) => !byCall.has(c)).length,
      errorBursts: bursts.length,
      otherKinds: accepted.filter((r) => r.json.kind !== 'siprec-error' && r.json.kind !== 'error-burst').map((r) => r.json.kind),
      callbacks503AtFirst: firstTries.filter((t) => t.status === 503).length,
      errorCallbackP99Ms: Math.round(percentile(firstTries.map((t) => t.ms), 99)),
      startedCallbackP99Ms: Math.round(percentile(startedMs, 99)),
      allDeliveredMs: allInAt - sentAt,
    };
    console.log(`postgres, alerts from ${INSTANCES} instances: ${JSON.stringify(figures)}`);

    expect(receiver!.requests.length).toBe(accepted.length);
    expect([...byId.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(accepted.every((r) => typeof r.headers['x-siprec-control-alert-id'] === 'string')).toBe(true);
    expect([...byCall.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(callSids.filter((c) => !byCall.has(c))).toEqual([]);
    expect(errorAlerts.length).toBe(ERRORS);
    // error-burst: once per connector and window, whichever instance stored the error that crossed it.
    expect(bursts.map((b) => b.json.connectorName)).toEqual([CONNECTOR]);
    expect(figures.otherKinds).toEqual([]);
    expect(accepted.length).toBe(ERRORS + 1);
  }, 60_000);
});
