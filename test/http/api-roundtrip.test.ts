import { describeEachBackend } from '../helpers/backends';
import { operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm } from '../helpers/twilio-requests';

// Markup, quotes, entities, a script end tag, non-BMP characters and a lone backslash.
const HOSTILE = `<img src=x onerror="window.__pwned=1">&amp;'"</script>\\ 🎙️ Zoë`;

describeEachBackend('stored values through the operator API', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend })));
  afterEach(async () => t.close());

  it('come back byte for byte, as JSON data and never as markup', async () => {
    const form = buildVoiceForm({ From: HOSTILE });
    await t.postTwilio('/twilio/voice', form).expect(200);
    const cb = buildStatusCallback({ CallSid: form.CallSid!, SiprecName: HOSTILE, SiprecEvent: 'siprec-error', SiprecErrorCode: HOSTILE, SiprecError: HOSTILE, Timestamp: HOSTILE, Extra: HOSTILE });
    await t.postTwilio('/twilio/siprec-status', cb).expect(204);

    const res = await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body.call.from).toBe(HOSTILE);
    const session = res.body.sessions.find((s: { name: string }) => s.name === HOSTILE);
    expect(session).toMatchObject({ errorCode: HOSTILE, errorMessage: HOSTILE, state: 'failed' });
    expect(session.events[0]).toMatchObject({ timestamp: HOSTILE, errorCode: HOSTILE, errorMessage: HOSTILE });
    expect(session.events[0].payload).toEqual(cb);

    const list = await operatorApi(t).get(`/api/sessions?callSid=${form.CallSid}`).expect(200);
    expect(list.body.sessions.map((s: { name: string }) => s.name)).toContain(HOSTILE);
    const stats = await operatorApi(t).get('/api/stats').expect(200);
    expect(stats.body.latestErrors[0]).toMatchObject({ name: HOSTILE, errorCode: HOSTILE, errorMessage: HOSTILE });
  });
});
