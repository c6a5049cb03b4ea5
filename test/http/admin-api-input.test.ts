import request from 'supertest';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { describeEachBackend } from '../helpers/backends';
import { BEARER, ledgerSnapshot, operatorApi } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { newCallSid } from '../helpers/twilio-requests';

const LONE_HIGH = '\ud800';
const LONE_LOW = '\udc00';

describeEachBackend('operator API: input that must be refused', (backend) => {
  let fake: FakeTwilio;
  let t: TestApp;
  let callSid: string;

  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = await createTestApp({ backend, twilio: fake });
    callSid = newCallSid();
    fake.calls.add(callSid);
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
  });

  /** POSTs `json` exactly as written: JSON.parse makes `__proto__` an own property, as a client's body would. */
  const postRaw = (json: string) =>
    request(t.app).post(`/api/calls/${callSid}/siprec`).set('Authorization', BEARER).type('json').send(json);

  async function expectRefused(json: string, paths: string[], message?: RegExp) {
    const before = await ledgerSnapshot(t, [callSid]);
    const res = await postRaw(json).expect(400);
    expect(res.body.error).toBe('request body is malformed');
    const details = res.body.details as Array<{ path: string; message: string }>;
    expect(details.map((d) => d.path).sort()).toEqual([...paths].sort());
    if (message) for (const d of details) expect(d.message).toMatch(message);
    expect(fake.requests).toEqual([]);
    expect(await ledgerSnapshot(t, [callSid])).toEqual(before);
  }

  describe('POST /api/calls/:callSid/siprec parameters', () => {
    it.each([
      ['a parameter named __proto__ with a string value', '{"__proto__":"x"}'],
      ['a parameter named __proto__ with a number', '{"__proto__":5}'],
      ['a parameter named __proto__ with an object', '{"__proto__":{"Agent":"alice"}}'],
      ['__proto__ beside an ordinary parameter', '{"Agent":"alice","__proto__":"x"}'],
    ])('responds 400 for %s, and asks Twilio nothing', async (_what, parameters) => {
      await expectRefused(`{"connectorName":"Rec","parameters":${parameters}}`, ['parameters.__proto__']);
    });

    it.each([
      ['a number', '{"Agent":1}'],
      ['a boolean', '{"Agent":true}'],
      ['null', '{"Agent":null}'],
      ['an object', '{"Agent":{"name":"alice"}}'],
      ['an array', '{"Agent":["alice"]}'],
    ])('responds 400 for %s as a parameter value', async (_what, parameters) => {
      await expectRefused(`{"connectorName":"Rec","parameters":${parameters}}`, ['parameters.Agent'], /must be a string/);
    });

    it('responds 400 when parameters is not an object', async () => {
      await expectRefused('{"connectorName":"Rec","parameters":["Agent","alice"]}', ['parameters']);
    });

    it('sends every other own name as it is, including constructor and toString', async () => {
      await postRaw('{"connectorName":"Rec","parameters":{"constructor":"c","toString":"t","Agent":"alice"}}').expect(201);
      expect(fake.requests[0]!.form).toMatchObject({
        'Parameter1.Name': 'constructor',
        'Parameter1.Value': 'c',
        'Parameter2.Name': 'toString',
        'Parameter2.Value': 't',
        'Parameter3.Name': 'Agent',
        'Parameter3.Value': 'alice',
      });
    });
  });

  describe('POST /api/calls/:callSid/siprec name shaped like a SIPREC SID', () => {
    // The ledger files a second session under one name by its SID: a session named so would take that place.
    const sid = `SR${'0123456789abcdef'.repeat(2)}`;
    it.each([
      ['given as name', `{"connectorName":"Rec","name":"${sid}"}`],
      ['in upper case', `{"connectorName":"Rec","name":"${sid.toUpperCase()}"}`],
      ['defaulted from connectorName', `{"connectorName":"${sid}"}`],
    ])('%s → 400, and Twilio is not asked', async (_what, json) => {
      await expectRefused(json, ['name'], /SIPREC SID/);
    });
  });

  describe('strings that are not well-formed UTF-16', () => {
    const body = (over: object) => JSON.stringify({ connectorName: 'Rec', ...over });
    it.each<[string, object, string]>([
      ['a lone high surrogate in connectorName', { connectorName: `Rec${LONE_HIGH}` }, 'connectorName'],
      ['a lone low surrogate in connectorName', { connectorName: LONE_LOW }, 'connectorName'],
      ['a reversed pair in connectorName', { connectorName: `${LONE_LOW}${LONE_HIGH}` }, 'connectorName'],
      ['a lone surrogate in a parameter value', { parameters: { Agent: `al${LONE_HIGH}ice` } }, 'parameters.Agent'],
      ['a lone surrogate in a parameter name', { parameters: { [`Ag${LONE_LOW}`]: 'alice' } }, 'parameters'],
      ['a lone surrogate in an unknown field', { colour: LONE_HIGH }, 'colour'],
    ])('responds 400 for %s, naming it, and asks Twilio nothing', async (_what, over, path) => {
      const json = body(over);
      // JSON.stringify escapes a lone surrogate as \udXXX: the body on the wire is well-formed UTF-8.
      expect(json).toMatch(/\\ud[89a-f][0-9a-f]{2}/);
      await expectRefused(json, [path], /well-formed/);
    });

    it('in a body nested thousands deep, still answers 400, with the place named in a few segments', async () => {
      const depth = 10_000;
      const json = `{"connectorName":"Rec","x":${'{"a":'.repeat(depth)}"\\ud800"${'}'.repeat(depth)}}`;
      const res = await postRaw(json).expect(400);
      expect(res.body.details).toEqual([{ path: `x.${'a.'.repeat(15)}…`, message: expect.stringMatching(/well-formed/) }]);
      expect(JSON.stringify(res.body).length).toBeLessThan(500);
      expect(fake.requests).toEqual([]);
    });

    it('accepts characters outside the BMP (a proper surrogate pair) and sends them to Twilio unchanged', async () => {
      await postRaw(body({ connectorName: 'Rec', parameters: { Agent: 'Zoë 🎙️' } })).expect(201);
      expect(fake.requests[0]!.form['Parameter1.Value']).toBe('Zoë 🎙️');
    });
  });

  describe('GET /api/sessions?connectorName=', () => {
    const api = () => operatorApi(t);
    it('over 128 characters → 400 saying it is too long', async () => {
      const res = await api().get(`/api/sessions?connectorName=${'x'.repeat(129)}`).expect(400);
      expect(res.body).toEqual({ error: 'query is malformed', details: [{ path: 'connectorName', message: 'connectorName must be at most 128 characters' }] });
    });

    it('empty → 400 saying it is empty', async () => {
      const res = await api().get('/api/sessions?connectorName=').expect(400);
      expect(res.body.details).toEqual([{ path: 'connectorName', message: 'connectorName must not be empty' }]);
    });

    it('given twice → 400 saying it must be given once', async () => {
      const res = await api().get('/api/sessions?connectorName=a&connectorName=b').expect(400);
      expect(res.body.details).toEqual([{ path: 'connectorName', message: 'connectorName must be given once' }]);
    });

    it('at 128 characters is accepted', async () => {
      await api().get(`/api/sessions?connectorName=${'x'.repeat(128)}`).expect(200);
    });
  });

  describe('GET /api/sessions filters that are too long or empty say so, not "must be given once"', () => {
    it.each([
      ['connectorPrefix', 'x'.repeat(129), 'connectorPrefix must be at most 128 characters'],
      ['connectorPrefix', '', 'connectorPrefix must not be empty'],
      ['phone', `+1${'5'.repeat(63)}`, 'phone must be at most 64 characters'],
    ])('%s=%j → 400 %j', async (field, value, message) => {
      const res = await operatorApi(t).get(`/api/sessions?${field}=${encodeURIComponent(value)}`).expect(400);
      expect(res.body).toEqual({ error: 'query is malformed', details: [{ path: field, message }] });
    });

    it.each([
      ['connectorPrefix', 'x'.repeat(128)],
      ['phone', `+1${'5'.repeat(62)}`],
    ])('%s at its longest is accepted', async (field, value) => {
      await operatorApi(t).get(`/api/sessions?${field}=${encodeURIComponent(value)}`).expect(200);
    });
  });
});
