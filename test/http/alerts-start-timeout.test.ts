import { SCAN_EVERY_MS } from '../../src/alerts';
import { describeEachBackend } from '../helpers/backends';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { buildStatusCallback } from '../helpers/twilio-requests';

const DAY_MS = 24 * 3_600_000;

describeEachBackend('start-timeout alerts', (backend) => {
  let h: AlertHarness;
  afterEach(async () => h.close());

  const start = (callSid: string, name: string) =>
    h.t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: callSid, SiprecName: name, SiprecEvent: 'siprec-started' })).expect(204);

  it('fires once for a session still requested 30 s after its call was answered, and never for one that started', async () => {
    h = await startAlertHarness({ backend });
    const callSid = await h.answeredCall(); // requests gridspace and compliance
    await start(callSid, 'gridspace');

    h.clock.advance(29_999);
    expect(await h.scan()).toBe(0);
    h.clock.advance(1);
    expect(await h.scan()).toBe(1);
    h.clock.advance(60_000);
    expect(await h.scan()).toBe(0);
    await h.drain();

    expect(h.receiver.accepted().map((r) => r.json)).toEqual([
      {
        kind: 'start-timeout',
        severity: 'error',
        message: `SIPREC session "compliance" on call ${callSid} (connector Compliance_SRS) has not started 30 s after the call was answered; check PUBLIC_BASE_URL and the connector`,
        callSid,
        sessionName: 'compliance',
        connectorName: 'Compliance_SRS',
        errorCode: null,
        errorMessage: null,
        at: new Date(h.clock.now - 60_000).toISOString(),
        text: expect.stringMatching(/^\[siprec-control\] ERROR start-timeout: SIPREC session "compliance"/),
      },
    ]);
    expect(h.logs.some((l) => l.level === 40 && l.raised === 1)).toBe(true);
  });

  it('does not fire for a session that failed or stopped before the timeout', async () => {
    h = await startAlertHarness({ backend });
    const callSid = await h.answeredCall();
    await h.postError(callSid, 'gridspace');
    await h.t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: callSid, SiprecName: 'compliance', SiprecEvent: 'siprec-stopped' })).expect(204);
    h.clock.advance(120_000);
    expect(await h.scan()).toBe(0);
  });

  it('follows ALERT_START_TIMEOUT_SECONDS', async () => {
    h = await startAlertHarness({ backend, env: { ALERT_START_TIMEOUT_SECONDS: '120' } });
    await h.answeredCall();
    h.clock.advance(119_000);
    expect(await h.scan()).toBe(0);
    h.clock.advance(1_000);
    expect(await h.scan()).toBe(2);
  });

  it('fires at ALERT_START_TIMEOUT_SECONDS=86400, the longest allowed', async () => {
    h = await startAlertHarness({ backend, env: { ALERT_START_TIMEOUT_SECONDS: '86400' } });
    await h.answeredCall();
    h.clock.advance(86_400_000 - 1);
    expect(await h.scan()).toBe(0);
    // The next scan, as the server's timer runs them: the timeout passed a few seconds ago.
    h.clock.advance(SCAN_EVERY_MS);
    expect(await h.scan()).toBe(2);
  });

  it('still fires when the first scan comes up to a day after the timeout passed (the server was down)', async () => {
    h = await startAlertHarness({ backend });
    await h.answeredCall();
    h.clock.advance(30_000 + DAY_MS);
    expect(await h.scan()).toBe(2);
  });

  it('leaves sessions whose timeout passed more than a day ago alone: they are history, not news', async () => {
    h = await startAlertHarness({ backend, env: { ALERT_START_TIMEOUT_SECONDS: '3600' } });
    await h.answeredCall();
    h.clock.advance(3_600_000 + DAY_MS + 1);
    expect(await h.scan()).toBe(0);
  });
});
