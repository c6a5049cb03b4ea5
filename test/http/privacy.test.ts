import { CALLER_NUMBER_MODES } from '../../src/domain/privacy';
import { operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm } from '../helpers/twilio-requests';
import { parseXml } from '../helpers/xml';

const FROM = '+442071838750';
const TO = '+15550001111';
const expected = {
  full: { from: FROM, to: TO, caller: FROM },
  masked: { from: '+44********50', to: '+1********11', caller: '{From}' },
  none: { from: null, to: null, caller: '{From}' },
} as const;

describe.each(CALLER_NUMBER_MODES)('STORE_CALLER_NUMBERS=%s', (mode) => {
  let t: TestApp;
  beforeEach(() => (t = createTestApp({ env: { STORE_CALLER_NUMBERS: mode } })));
  afterEach(async () => t.close());

  it('still routes on the live number and fills {From} in the TwiML', async () => {
    const form = buildVoiceForm({ From: FROM, Caller: FROM, To: TO });
    const res = await t.postTwilio('/twilio/voice', form).expect(200);
    const gridspace = parseXml(res.text).children[0]!.children[0]!;
    expect(gridspace.attributes.name).toBe('gridspace');
    expect(gridspace.children[0]!.attributes).toEqual({ name: 'Caller', value: FROM });
  });

  it('keeps numbers in the ledger and its API only as the mode allows, down to the raw payload', async () => {
    const form = buildVoiceForm({ From: FROM, Caller: FROM, To: TO, Called: TO, CallerName: 'ALICE' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    // Status callbacks carry Twilio's standard request parameters, numbers included.
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, From: FROM, Caller: FROM, To: TO, Called: TO, CallerName: 'ALICE' })).expect(204);

    const res = await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(200);
    expect(res.body.call).toMatchObject({ from: expected[mode].from, to: expected[mode].to });
    const list = await operatorApi(t).get('/api/sessions').expect(200);
    expect(list.body.sessions[0]).toMatchObject({ from: expected[mode].from, to: expected[mode].to });

    const payload = res.body.sessions[0].events[0].payload;
    if (mode === 'full') expect(payload).toMatchObject({ From: FROM, To: TO, CallerName: 'ALICE' });
    else expect(JSON.stringify(payload)).not.toContain('2071838750');
    if (mode === 'none') expect(Object.keys(payload)).not.toEqual(expect.arrayContaining(['From']));
    if (mode !== 'full') expect(payload.CallerName).toBeUndefined();

    const stored = t.db.prepare('SELECT parameters FROM siprec_sessions WHERE name = ?').get('gridspace') as { parameters: string };
    expect(JSON.parse(stored.parameters)[0]).toEqual({ name: 'Caller', value: expected[mode].caller });

    const everything = JSON.stringify(t.db.prepare('SELECT * FROM calls').all()) + JSON.stringify(t.db.prepare('SELECT * FROM siprec_sessions').all()) + JSON.stringify(t.db.prepare('SELECT * FROM siprec_events').all());
    if (mode !== 'full') expect(everything).not.toContain('2071838750');
  });
});
