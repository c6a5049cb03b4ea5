import { existsSync, readFileSync } from 'node:fs';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { CALLER_NUMBER_MODES } from '../../src/domain/privacy';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { describeEachBackend } from '../helpers/backends';
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

/**
 * The ledger's bytes as a copy of the disk would show them: the SQLite file and its WAL. Inherently
 * SQLite's: PostgreSQL's files are shared by every database of the cluster, and the Store has no
 * reader for what is kept only for Twilio (a session's parameters), so these checks are SQLite-only.
 */
const onDisk = (t: TestApp) => {
  if (t.storage.storage.kind !== 'sqlite') throw new Error('onDisk reads a SQLite file');
  const file = t.storage.storage.path;
  return Buffer.concat([file, `${file}-wal`].filter(existsSync).map((f) => readFileSync(f))).toString('latin1');
};
/** A session's parameters as the SQLite store writes them (JSON text), to find them in its bytes. */
const storedParameters = (parameters: Array<{ name: string; value: string }>) => JSON.stringify(parameters);

describeEachBackend('caller numbers in the ledger', (backend) => describe.each(CALLER_NUMBER_MODES)('STORE_CALLER_NUMBERS=%s', (mode) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend, env: { STORE_CALLER_NUMBERS: mode } })));
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
    // What else the ledger keeps (the sessions' parameters) has no reader: see the SQLite file below.
  });
}));

describe.each(CALLER_NUMBER_MODES)('the SQLite file with STORE_CALLER_NUMBERS=%s', (mode) => {
  let t: TestApp;
  let fake: FakeTwilio;
  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = await createTestApp({ backend: 'sqlite', env: { STORE_CALLER_NUMBERS: mode }, twilio: fake });
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
  });
  const VIA = '+447700900999';

  it('keeps the number in a session’s parameters, and anywhere in the file and its WAL, only as the mode allows', async () => {
    const form = buildVoiceForm({ From: FROM, Caller: FROM, To: TO, Called: TO, CallerName: 'ALICE' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, From: FROM, Caller: FROM, To: TO, Called: TO, CallerName: 'ALICE' })).expect(204);
    expect(onDisk(t)).toContain(storedParameters([{ name: 'Caller', value: expected[mode].caller }, { name: 'Team', value: 'sales' }]));
    if (mode === 'full') expect(onDisk(t)).toContain('2071838750'); // the check below can see it
    else expect(onDisk(t)).not.toContain('2071838750');
  });

  it('keeps CalledVia and a SIP header carrying the caller only as the mode allows', async () => {
    const header = '"Alice Smith" <sip:+447700900999@carrier.example.com>;tag=9fxced76sl';
    const form = buildVoiceForm({ From: FROM, Caller: FROM, To: TO, Called: TO });
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, From: FROM, CalledVia: VIA, 'SipHeader_X-Original-Caller': header })).expect(204);
    if (mode === 'full') expect(onDisk(t)).toContain('7700900999');
    else expect(onDisk(t)).not.toMatch(/7700900999|Alice Smith/);
  });

  it('keeps a number given as a parameter of a SIPREC started through the API only as the mode allows', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    fake.calls.add(form.CallSid!);
    await operatorApi(t).post(`/api/calls/${form.CallSid}/siprec`, { connectorName: 'Compliance_SRS', name: 'extra', parameters: { Agent: 'alice', Callback: VIA } }).expect(201);
    const kept = { full: [{ name: 'Agent', value: 'alice' }, { name: 'Callback', value: VIA }], masked: [{ name: 'Agent', value: 'alice' }, { name: 'Callback', value: '+44********99' }], none: [{ name: 'Agent', value: 'alice' }] }[mode];
    expect(onDisk(t)).toContain(storedParameters(kept));
    if (mode !== 'full') expect(onDisk(t)).not.toContain('7700900999');
  });
});

describeEachBackend('a number under a parameter name of its own', (backend) => describe.each(CALLER_NUMBER_MODES)('STORE_CALLER_NUMBERS=%s', (mode) => {
  let t: TestApp;
  let fake: FakeTwilio;
  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = await createTestApp({ backend, env: { STORE_CALLER_NUMBERS: mode }, twilio: fake });
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
  });

  const VIA = '+447700900999';

  it('keeps CalledVia in a status callback only as the mode allows, in the API', async () => {
    const form = buildVoiceForm({ From: FROM, Caller: FROM, To: TO, Called: TO });
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, From: FROM, CalledVia: VIA })).expect(204);

    const payload = (await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(200)).body.sessions[0].events[0].payload;
    const expectedVia = { full: VIA, masked: '+44********99', none: undefined }[mode];
    const expectedFrom = { full: FROM, masked: '+44********50', none: undefined }[mode];
    expect(payload.CalledVia).toBe(expectedVia);
    expect(payload.From).toBe(expectedFrom);
  });

  it('keeps a SIP header that carries the caller inside a longer value only as the mode allows', async () => {
    // Twilio passes a SIP call's X- headers on as SipHeader_X-…; this one is in name-addr form.
    const header = '"Alice Smith" <sip:+447700900999@carrier.example.com>;tag=9fxced76sl';
    const form = buildVoiceForm({ From: FROM, To: TO });
    await t.postTwilio('/twilio/voice', form).expect(200);
    await t.postTwilio('/twilio/siprec-status', buildStatusCallback({ CallSid: form.CallSid!, 'SipHeader_X-Original-Caller': header })).expect(204);

    const payload = (await operatorApi(t).get(`/api/calls/${form.CallSid}`).expect(200)).body.sessions[0].events[0].payload;
    if (mode === 'full') expect(payload['SipHeader_X-Original-Caller']).toBe(header);
    if (mode === 'masked') expect(payload['SipHeader_X-Original-Caller']).toBe(`${'*'.repeat(header.length - 2)}sl`);
    if (mode === 'none') expect(payload).not.toHaveProperty('SipHeader_X-Original-Caller');
  });

  it('starts a SIPREC with a number as a parameter whatever the mode: Twilio gets the number', async () => {
    const form = buildVoiceForm({ To: '+15559990000' });
    await t.postTwilio('/twilio/voice', form).expect(200);
    fake.calls.add(form.CallSid!);
    await operatorApi(t).post(`/api/calls/${form.CallSid}/siprec`, { connectorName: 'Compliance_SRS', name: 'extra', parameters: { Agent: 'alice', Callback: VIA } }).expect(201);
    // Only what the ledger keeps changes with the mode (the SQLite file suite above reads it).
    expect([...fake.siprecs.values()][0]).toBeDefined();
    expect(JSON.stringify(fake.requests.at(-1)?.form)).toContain('7700900999');
  });
}));
