import request from 'supertest';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_ADMIN_TOKEN, TEST_AUTH_TOKEN } from '../helpers/env';
import { basicAuth, BEARER } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { newCallSid } from '../helpers/twilio-requests';

const BASIC = basicAuth('ops', TEST_ADMIN_TOKEN);
/** PUBLIC_BASE_URL in the tests is https://calls.example.com/siprec. */
const OWN_ORIGIN = 'https://calls.example.com';

describe('operator API: requests that change state from another site (CSRF)', () => {
  let fake: FakeTwilio;
  let t: TestApp;
  let callSid: string;
  let stopPath: string;
  let startPath: string;

  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = await createTestApp({ twilio: fake });
    callSid = newCallSid();
    fake.calls.add(callSid);
    fake.addSiprec(callSid, 'rec1');
    stopPath = `/api/calls/${callSid}/siprec/rec1/stop`;
    startPath = `/api/calls/${callSid}/siprec`;
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
  });

  describe('refused with 403 before Twilio is asked', () => {
    it.each([
      ['a foreign Origin, with Basic and JSON', { authorization: BASIC, origin: 'https://evil.example' }],
      ['a foreign Origin, with a Bearer token', { authorization: BEARER, origin: 'https://evil.example' }],
      ['a foreign Origin without credentials (no prompt either)', { origin: 'https://evil.example' }],
      ['Origin: null (a sandboxed frame or a redirect)', { authorization: BASIC, origin: 'null' }],
      ['the same host on another scheme', { authorization: BASIC, origin: 'http://calls.example.com' }],
      ['the same host on another port', { authorization: BASIC, origin: 'https://calls.example.com:8443' }],
      ['Sec-Fetch-Site: cross-site without Origin', { authorization: BASIC, 'sec-fetch-site': 'cross-site' }],
      ['Sec-Fetch-Site: same-site from a sibling subdomain', { authorization: BASIC, 'sec-fetch-site': 'same-site', origin: 'https://evil.example.com' }],
      ['Sec-Fetch-Site: cross-site with a foreign Origin', { authorization: BASIC, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }],
    ])('a stop with %s', async (_name, headers: Record<string, string>) => {
      const res = await request(t.app).post(stopPath).set(headers).type('json').send('{}').expect(403);
      expect(res.body).toEqual({ error: expect.stringMatching(/^cross-site request refused/) });
      expect(fake.requests).toEqual([]);
    });

    it('a start with a foreign Origin', async () => {
      await request(t.app).post(startPath).set({ authorization: BASIC, origin: 'https://evil.example' }).send({ connectorName: 'Gridspace_1' }).expect(403);
      expect(fake.requests).toEqual([]);
    });

    it.each(['put', 'patch', 'delete'] as const)('%s with a foreign Origin, whatever the route', async (method) => {
      await request(t.app)[method](stopPath).set({ authorization: BASIC, origin: 'https://evil.example' }).expect(403);
      expect(fake.requests).toEqual([]);
    });
  });

  describe('refused with 415 when Basic credentials come without a JSON body type (a form cannot set one)', () => {
    it.each([
      ['no body and no Content-Type (an empty form post from an old browser)', undefined],
      ['a url-encoded form', 'application/x-www-form-urlencoded'],
      ['text/plain (a form with enctype=text/plain)', 'text/plain'],
      ['multipart/form-data', 'multipart/form-data; boundary=x'],
    ])('a stop with %s', async (_name, type) => {
      const req = request(t.app).post(stopPath).set('authorization', BASIC);
      const res = await (type ? req.set('content-type', type).send('a=b') : req).expect(415);
      expect(res.body.error).toMatch(/Content-Type: application\/json/);
      expect(fake.requests).toEqual([]);
    });
  });

  describe('allowed', () => {
    const stopped = () => expect(fake.requests.map((r) => r.form)).toEqual([{ Status: 'stopped' }]);

    it('a Bearer token with no body and no Origin (the README curl example)', async () => {
      await request(t.app).post(stopPath).set('authorization', BEARER).expect(202);
      stopped();
    });

    it("Basic with JSON from PUBLIC_BASE_URL's origin (the status page as deployed)", async () => {
      await request(t.app).post(stopPath).set({ authorization: BASIC, origin: OWN_ORIGIN, 'sec-fetch-site': 'same-origin' }).type('json').send('{}').expect(202);
      stopped();
    });

    it('Basic with JSON that the browser marks same-origin, on whatever address the page was opened', async () => {
      await request(t.app).post(stopPath).set({ authorization: BASIC, origin: 'http://10.0.0.5:3000', 'sec-fetch-site': 'same-origin' }).type('json').send('{}').expect(202);
      stopped();
    });

    it('Basic with JSON and no browser headers (curl -u)', async () => {
      await request(t.app).post(stopPath).set('authorization', BASIC).type('json').send('{}').expect(202);
      stopped();
    });

    it('a start with Basic and JSON from our origin', async () => {
      await request(t.app).post(startPath).set({ authorization: BASIC, origin: OWN_ORIGIN }).send({ connectorName: 'Gridspace_1', name: 'second' }).expect(201);
      expect(fake.requests).toHaveLength(1);
    });

    it("Basic with JSON from our origin when PUBLIC_BASE_URL spells out the default port (browsers never send it)", async () => {
      await t.close();
      t = await createTestApp({ twilio: fake, env: { PUBLIC_BASE_URL: 'https://calls.example.com:443/siprec' } });
      await request(t.app).post(stopPath).set({ authorization: BASIC, origin: OWN_ORIGIN }).type('json').send('{}').expect(202);
      stopped();
    });

    it('reads from any origin: a GET changes nothing, and CORS keeps its answer from the other page', async () => {
      await request(t.app).get('/api/stats').set({ authorization: BASIC, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }).expect(200);
    });
  });
});
