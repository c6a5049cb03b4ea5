import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, sign } from '../helpers/twilio-requests';
import { parseXml } from '../helpers/xml';
import { TEST_PUBLIC_BASE_URL } from '../helpers/env';

describe('POST /twilio/siprec-stop', () => {
  let t: TestApp;
  beforeEach(() => (t = createTestApp()));
  afterEach(async () => t.close());

  async function liveCall() {
    const form = buildVoiceForm();
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'gridspace' })).expect(204);
    return form;
  }
  const stopRequested = (t: TestApp, callSid: string) =>
    (t.db.prepare('SELECT name, stop_requested_at FROM siprec_sessions WHERE call_sid = ? ORDER BY id').all(callSid) as Array<{ name: string; stop_requested_at: number | null }>).map((r) => [r.name, r.stop_requested_at !== null]);

  it('stops the named session, then redirects to next', async () => {
    const form = await liveCall();
    const res = await t.postTwilio('/twilio/siprec-stop?name=gridspace&next=https%3A%2F%2Fivr.example.com%2Fafter%3Fa%3D1%26b%3D2', form).expect(200);
    const root = parseXml(res.text);
    expect(root.children.map((c) => c.name)).toEqual(['Stop', 'Redirect']);
    expect(root.children[0]!.children.map((c) => [c.name, c.attributes])).toEqual([['Siprec', { name: 'gridspace' }]]);
    expect(root.children[1]!.text).toBe('https://ivr.example.com/after?a=1&b=2');
    expect(stopRequested(t, form.CallSid!)).toEqual([
      ['gridspace', true],
      ['compliance', false],
    ]);
  });

  it('stops every requested or active session when no name is given, then continues the call’s route', async () => {
    const form = await liveCall();
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, SiprecName: 'compliance', SiprecEvent: 'siprec-error' })).expect(204);
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    const root = parseXml(res.text);
    expect(root.children[0]!.children.map((c) => c.attributes.name)).toEqual(['gridspace']);
    expect(root.children[1]).toMatchObject({ name: 'Redirect', text: 'https://ivr.example.com/voice' });
  });

  it('answers only the continuation when nothing is open', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    const res = await t.postTwilio('/twilio/siprec-stop', form).expect(200);
    const root = parseXml(res.text);
    expect(root.children.map((c) => c.name)).toEqual(['Dial']);
  });

  it('works as a GET target, reading CallSid from the signed query', async () => {
    const form = await liveCall();
    const path = `/twilio/siprec-stop?${new URLSearchParams({ ...form, name: 'gridspace' })}`;
    const res = await request(t.app).get(path).set('X-Twilio-Signature', sign(TEST_PUBLIC_BASE_URL + path, {})).expect(200);
    expect(res.text).toContain('<Stop><Siprec name="gridspace"/></Stop>');
  });

  it.each([
    ['a next that is not https', '?next=http%3A%2F%2Fivr.example.com', 'next'],
    ['a next that is relative', '?next=%2Fafter', 'next'],
    ['a bad name', '?name=a%20b', 'name'],
  ])('refuses %s with 400 and records nothing', async (_what, query, field) => {
    const form = await liveCall();
    const res = await t.postTwilio(`/twilio/siprec-stop${query}`, form).expect(400);
    expect(res.body.details.map((d: { path: string }) => d.path)).toEqual([field]);
    expect(stopRequested(t, form.CallSid!)).toEqual([
      ['gridspace', false],
      ['compliance', false],
    ]);
  });

  it('refuses an unsigned request', async () => {
    await t.postTwilio('/twilio/siprec-stop?name=x', buildVoiceForm(), 'wrong').expect(403);
  });
});
