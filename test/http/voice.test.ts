import request from 'supertest';
import { describeEachBackend } from '../helpers/backends';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN_SECONDARY } from '../helpers/env';
import { emptyLedger, ledgerSnapshot } from '../helpers/operator-api';
import { createTestApp, FAST_FAILING_WRITES_MS, type TestApp } from '../helpers/test-app';
import { buildVoiceForm, sign } from '../helpers/twilio-requests';
import { parseXml, type XmlNode } from '../helpers/xml';

const STATUS_CALLBACK = 'https://calls.example.com/siprec/twilio/siprec-status#rc=5&rp=ct,rt,5xx';

/** The calls the ledger holds (each has a session under these routes) and every session, oldest first. */
async function rows(t: TestApp) {
  const { calls, sessions } = await ledgerSnapshot(t);
  return { calls: Object.values(calls).map((c) => c!.call), sessions: [...sessions].reverse() };
}

const names = (n: XmlNode) => n.children.map((c) => c.name);

describeEachBackend('POST /twilio/voice', (backend) => {
  let t: TestApp;
  afterEach(async () => t.close());

  describe('when the called number has its own route', () => {
    beforeEach(async () => (t = await createTestApp({ backend })));

    it('starts both SIPREC sessions with their attributes and parameters, then redirects', async () => {
      const form = buildVoiceForm({ To: '+15550001111', From: '+14155550100' });
      const res = await t.postTwilio('/twilio/voice', form).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/xml/);
      const root = parseXml(res.text);
      expect(root.name).toBe('Response');
      expect(names(root)).toEqual(['Start', 'Redirect']);
      const [start, redirect] = root.children as [XmlNode, XmlNode];
      expect(start.children).toHaveLength(2);
      const [gridspace, compliance] = start.children as [XmlNode, XmlNode];
      expect(gridspace.name).toBe('Siprec');
      expect(gridspace.attributes).toEqual({
        name: 'gridspace',
        connectorName: 'Gridspace_1',
        track: 'both_tracks',
        statusCallback: STATUS_CALLBACK,
        statusCallbackMethod: 'POST',
      });
      expect(gridspace.children.map((p) => [p.name, p.attributes.name, p.attributes.value])).toEqual([
        ['Parameter', 'Caller', '+14155550100'],
        ['Parameter', 'Team', 'sales'],
      ]);
      expect(compliance.attributes).toEqual({
        name: 'compliance',
        connectorName: 'Compliance_SRS',
        track: 'inbound_track',
        statusCallback: STATUS_CALLBACK,
        statusCallbackMethod: 'POST',
      });
      expect(compliance.children).toEqual([]);
      expect(redirect.text).toBe('https://ivr.example.com/voice');
    });

    it('records the call and one requested session per <Siprec> in the ledger', async () => {
      const form = buildVoiceForm();
      await t.postTwilio('/twilio/voice', form).expect(200);
      const { calls, sessions } = await rows(t);
      expect(calls).toEqual([
        expect.objectContaining({ callSid: form.CallSid, accountSid: TEST_ACCOUNT_SID, from: form.From, to: form.To, direction: 'inbound' }),
      ]);
      expect(sessions.map((s) => [s.callSid, s.name, s.connectorName, s.track, s.state])).toEqual([
        [form.CallSid, 'gridspace', 'Gridspace_1', 'both_tracks', 'requested'],
        [form.CallSid, 'compliance', 'Compliance_SRS', 'inbound_track', 'requested'],
      ]);
      // The parameters the ledger keeps have no reader in the Store: privacy.test.ts checks them in the SQLite file.
    });

    it('answers a repeated request with the same TwiML and writes no second row', async () => {
      const form = buildVoiceForm();
      const first = await t.postTwilio('/twilio/voice', form).expect(200);
      const second = await t.postTwilio('/twilio/voice', form).expect(200);
      expect(second.text).toBe(first.text);
      expect((await rows(t)).calls).toHaveLength(1);
      expect((await rows(t)).sessions).toHaveLength(2);
    });
  });

  describe('when no route names the called number', () => {
    beforeEach(async () => (t = await createTestApp({ backend })));

    it('uses the default route: one <Siprec> named after its connector, then <Dial><Number>', async () => {
      const res = await t.postTwilio('/twilio/voice', buildVoiceForm({ To: '+15559998888' })).expect(200);
      const root = parseXml(res.text);
      expect(names(root)).toEqual(['Start', 'Dial']);
      expect(root.children[0]!.children.map((c) => c.attributes.name)).toEqual(['Gridspace_1']);
      const dial = root.children[1]!;
      expect(names(dial)).toEqual(['Number']);
      expect(dial.children[0]!.text).toBe('+15551230000');
    });
  });

  describe('with several routes', () => {
    const siprec = [{ connectorName: 'C1' }];
    beforeEach(
      async () =>
        (t = await createTestApp({
          backend,
          routes: {
            routes: [
              { to: ['+15550000001', '+15550000002'], siprec, then: { enqueue: 'support' } },
              { to: ['+15550000003'], siprec, then: { dial: 'sip:agent@pbx.example.com;transport=tls' } },
              { to: ['+15550000004'], siprec, then: { dial: 'client:alice' } },
              { siprec: [{ connectorName: 'Default_SRS', statusCallbackMethod: 'GET', track: 'outbound_track' }], then: { redirect: 'https://ivr.example.com/next?a=1&b=2' } },
            ],
          },
        })),
    );

    it.each([
      ['+15550000001', 'Enqueue', 'support', []],
      ['+15550000002', 'Enqueue', 'support', []],
      ['+15550000003', 'Dial', '', ['Sip']],
      ['+15550000004', 'Dial', '', ['Client']],
    ])('routes To=%s to its first matching route (%s)', async (to, element, text, inner) => {
      const res = await t.postTwilio('/twilio/voice', buildVoiceForm({ To: to })).expect(200);
      const root = parseXml(res.text);
      expect(names(root)).toEqual(['Start', element]);
      expect(root.children[1]!.text).toBe(text);
      expect(names(root.children[1]!)).toEqual(inner);
    });

    it('puts the sip: URI and the client identity inside <Dial>', async () => {
      const sip = parseXml((await t.postTwilio('/twilio/voice', buildVoiceForm({ To: '+15550000003' }))).text);
      expect(sip.children[1]!.children[0]!.text).toBe('sip:agent@pbx.example.com;transport=tls');
      const client = parseXml((await t.postTwilio('/twilio/voice', buildVoiceForm({ To: '+15550000004' }))).text);
      expect(client.children[1]!.children[0]!.text).toBe('alice');
    });

    it('falls through to the default route with its GET callback, track and redirect URL intact', async () => {
      const res = await t.postTwilio('/twilio/voice', buildVoiceForm({ To: '+15550009999' })).expect(200);
      const root = parseXml(res.text);
      expect(root.children[0]!.children[0]!.attributes).toMatchObject({ name: 'Default_SRS', statusCallbackMethod: 'GET', track: 'outbound_track' });
      expect(root.children[1]!.text).toBe('https://ivr.example.com/next?a=1&b=2');
      expect(res.text).toContain('https://ivr.example.com/next?a=1&amp;b=2');
    });
  });

  describe('with parameter templates', () => {
    const all = '{From}|{To}|{CallSid}|{AccountSid}|{Direction}|{CallerName}|{ForwardedFrom}';
    beforeEach(
      async () =>
        (t = await createTestApp({
          backend,
          routes: { routes: [{ siprec: [{ connectorName: 'C', parameters: { All: all, Fixed: 'x' } }], then: { enqueue: 'q' } }] },
        })),
    );

    it('fills every placeholder from the voice request', async () => {
      const form = buildVoiceForm({ CallerName: 'ALICE SMITH', ForwardedFrom: '+15550007777' });
      const res = await t.postTwilio('/twilio/voice', form).expect(200);
      const params = parseXml(res.text).children[0]!.children[0]!.children;
      expect(params[0]!.attributes).toEqual({
        name: 'All',
        value: [form.From, form.To, form.CallSid, form.AccountSid, form.Direction, 'ALICE SMITH', '+15550007777'].join('|'),
      });
      expect(params[1]!.attributes).toEqual({ name: 'Fixed', value: 'x' });
    });

    it('fills a missing field with the empty string', async () => {
      const form = buildVoiceForm();
      const res = await t.postTwilio('/twilio/voice', form).expect(200);
      const value = parseXml(res.text).children[0]!.children[0]!.children[0]!.attributes.value;
      expect(value).toBe([form.From, form.To, form.CallSid, form.AccountSid, form.Direction, '', ''].join('|'));
    });

    it('escapes &, <, > and quotes from the caller so the TwiML stays well-formed', async () => {
      const hostile = `Tom & "Jerry" <script>'x'</script>`;
      const res = await t.postTwilio('/twilio/voice', buildVoiceForm({ CallerName: hostile })).expect(200);
      expect(res.text).not.toContain('<script>');
      const value = parseXml(res.text).children[0]!.children[0]!.children[0]!.attributes.value!;
      expect(value.split('|')[5]).toBe(hostile);
    });
  });

  describe('when the ledger cannot write (its write locks held by another connection)', () => {
    beforeEach(async () => (t = await createTestApp({ backend, writeTimeoutMs: FAST_FAILING_WRITES_MS[backend] })));

    it('still answers the TwiML, and counts the failure', async () => {
      const release = await t.holdWrites();
      try {
        const res = await t.postTwilio('/twilio/voice', buildVoiceForm()).expect(200);
        expect(names(parseXml(res.text))).toEqual(['Start', 'Redirect']);
        const metric = await t.metrics.ledgerWriteFailures.get();
        expect(metric.values[0]!.value).toBe(1);
      } finally {
        await release();
      }
      // Its ledger-write-failed alert is held in memory: no call, no session is in the ledger.
      expect(await rows(t)).toEqual({ calls: [], sessions: [] });
    });
  });

  describe('with malformed input', () => {
    beforeEach(async () => (t = await createTestApp({ backend })));

    it.each([
      ['a missing CallSid', { CallSid: undefined }],
      ['a malformed CallSid', { CallSid: 'CA123' }],
    ])('refuses %s with 400 naming the field, and records nothing', async (_what, change) => {
      const form = Object.fromEntries(Object.entries({ ...buildVoiceForm(), ...change }).filter(([, v]) => v !== undefined)) as Record<string, string>;
      const res = await t.postTwilio('/twilio/voice', form).expect(400);
      expect(res.body.error).toBe('voice request is malformed');
      expect(res.body.details.map((d: { path: string }) => d.path)).toEqual(['CallSid']);
      expect(await ledgerSnapshot(t)).toEqual(emptyLedger());
    });

    it('refuses a field sent twice with 400', async () => {
      const form = { ...buildVoiceForm(), To: ['+15550001111', '+15550002222'] } as unknown as Record<string, string>;
      const res = await t.postTwilio('/twilio/voice', form).expect(400);
      expect(res.body.details[0].path).toBe('To');
    });

    it('refuses a body over 64 KB with 413', async () => {
      const form = buildVoiceForm({ Padding: 'x'.repeat(70 * 1024) });
      const res = await t.postTwilio('/twilio/voice', form).expect(413);
      expect(res.body).toEqual({ error: 'request body is too large' });
      expect(await ledgerSnapshot(t)).toEqual(emptyLedger());
    });

    it('refuses a JSON body with 415', async () => {
      const res = await request(t.app).post('/twilio/voice').set('X-Twilio-Signature', 'x').send({ CallSid: 'CA1' }).expect(415);
      expect(res.body.error).toMatch(/x-www-form-urlencoded/);
    });

    it('refuses other methods with 405', async () => {
      await request(t.app).put('/twilio/voice').expect(405).expect('Allow', 'GET, POST');
    });
  });
});

describeEachBackend('GET /twilio/voice', (backend) => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp({ backend })));
  afterEach(async () => t.close());

  it('reads the call from the signed query and answers TwiML', async () => {
    const form = buildVoiceForm();
    const path = `/twilio/voice?${new URLSearchParams(form)}`;
    const res = await t.getTwilio(path).expect(200);
    expect(names(parseXml(res.text))).toEqual(['Start', 'Redirect']);
    expect((await rows(t)).calls).toEqual([expect.objectContaining({ callSid: form.CallSid })]);
  });
});

describe('the signature gate on /twilio/*', () => {
  let t: TestApp;
  afterEach(async () => t.close());
  const base = 'https://calls.example.com/siprec';

  describe('with only the primary token', () => {
    beforeEach(async () => (t = await createTestApp()));

    it('refuses a request without X-Twilio-Signature with 400 and records nothing', async () => {
      const res = await request(t.app).post('/twilio/voice').type('form').send(buildVoiceForm()).expect(400);
      expect(res.body).toEqual({ error: 'missing X-Twilio-Signature header' });
      expect((await rows(t)).calls).toHaveLength(0);
    });

    it('refuses a request signed with the wrong token with 403', async () => {
      await t.postTwilio('/twilio/voice', buildVoiceForm(), 'not-the-token').expect(403);
      expect((await rows(t)).calls).toHaveLength(0);
    });

    it('refuses a secondary token that is not configured', async () => {
      await t.postTwilio('/twilio/voice', buildVoiceForm(), TEST_AUTH_TOKEN_SECONDARY).expect(403);
    });

    it('refuses a tampered parameter with 403', async () => {
      const form = buildVoiceForm();
      const signature = sign(`${base}/twilio/voice`, form);
      await request(t.app).post('/twilio/voice').type('form').set('X-Twilio-Signature', signature).send({ ...form, To: '+15550009999' }).expect(403);
      expect((await rows(t)).calls).toHaveLength(0);
    });

    it('refuses a tampered path or query with 403', async () => {
      const form = buildVoiceForm();
      const signature = sign(`${base}/twilio/voice?x=1`, form);
      await request(t.app).post('/twilio/voice?x=2').type('form').set('X-Twilio-Signature', signature).send(form).expect(403);
      await request(t.app).post('/twilio/voice').type('form').set('X-Twilio-Signature', sign(`${base}/twilio/other`, form)).send(form).expect(403);
    });

    it('accepts a POST whose URL has a query, signed over path and query', async () => {
      const form = buildVoiceForm();
      const signature = sign(`${base}/twilio/voice?campaign=a%20b`, form);
      await request(t.app).post('/twilio/voice?campaign=a%20b').type('form').set('X-Twilio-Signature', signature).send(form).expect(200);
    });

    it('checks against PUBLIC_BASE_URL, whatever Host and X-Forwarded-* say', async () => {
      const form = buildVoiceForm();
      const forged = sign('https://evil.example.net/twilio/voice', form);
      await request(t.app)
        .post('/twilio/voice')
        .type('form')
        .set({ Host: 'evil.example.net', 'X-Forwarded-Host': 'evil.example.net', 'X-Forwarded-Proto': 'https', 'X-Twilio-Signature': forged })
        .send(form)
        .expect(403);
      await t.postTwilio('/twilio/voice', form).set({ Host: 'evil.example.net', 'X-Forwarded-Proto': 'http' }).expect(200);
    });

    it('refuses a correctly signed request for another account with 403 and records nothing', async () => {
      const res = await t.postTwilio('/twilio/voice', buildVoiceForm({ AccountSid: 'AC' + 'f'.repeat(32) })).expect(403);
      expect(res.body).toEqual({ error: 'request is for another Twilio account' });
      expect((await rows(t)).calls).toHaveLength(0);
    });

    it('refuses a GET whose query was changed after signing', async () => {
      const form = buildVoiceForm();
      const signature = sign(`${base}/twilio/voice?${new URLSearchParams(form)}`, {});
      const tampered = new URLSearchParams({ ...form, From: '+19999999999' });
      await request(t.app).get(`/twilio/voice?${tampered}`).set('X-Twilio-Signature', signature).expect(403);
    });

    it('counts refusals by reason', async () => {
      await t.postTwilio('/twilio/voice', buildVoiceForm(), 'wrong').expect(403);
      const metric = await t.metrics.signatureFailures.get();
      expect(metric.values).toEqual([expect.objectContaining({ labels: { reason: 'mismatch' }, value: 1 })]);
    });
  });

  describe('during token rotation (TWILIO_AUTH_TOKEN_SECONDARY set)', () => {
    beforeEach(async () => (t = await createTestApp({ env: { TWILIO_AUTH_TOKEN_SECONDARY: TEST_AUTH_TOKEN_SECONDARY } })));

    it('accepts requests signed with either token', async () => {
      await t.postTwilio('/twilio/voice', buildVoiceForm()).expect(200);
      await t.postTwilio('/twilio/voice', buildVoiceForm(), TEST_AUTH_TOKEN_SECONDARY).expect(200);
      await t.postTwilio('/twilio/voice', buildVoiceForm(), 'a-third-token').expect(403);
      expect((await rows(t)).calls).toHaveLength(2);
    });
  });
});
