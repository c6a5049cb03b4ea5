import request from 'supertest';
import { BEARER } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, newCallSid, sign } from '../helpers/twilio-requests';

/**
 * The README's one error shape, for Express's routes and the Twilio webhook edge alike:
 * `{ "error": "<what was wrong>" }`, plus `"details": [ … ]` when there is a list to give (the
 * fields that failed, Twilio's answer, the open sessions), and nothing else.
 */
function expectErrorShape(res: request.Response, status: number): void {
  expect({ status: res.status, type: res.headers['content-type'] }).toEqual({ status, type: 'application/json; charset=utf-8' });
  const body = res.body as Record<string, unknown>;
  expect(Object.keys(body).filter((k) => k !== 'error' && k !== 'details')).toEqual([]);
  expect(body.error).toEqual(expect.stringMatching(/\S/));
  if ('details' in body) {
    expect(Array.isArray(body.details)).toBe(true);
    expect((body.details as unknown[]).length).toBeGreaterThan(0);
    for (const d of body.details as unknown[]) expect(d).toEqual(expect.any(Object));
  }
  // 5xx bodies are generic: never a stack trace or a file path.
  expect(JSON.stringify(body)).not.toMatch(/\n\s+at |\/src\/|\/dist\/|node_modules/);
}

describe('error bodies', () => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp()));
  afterEach(async () => t.close());

  const api = (method: 'get' | 'post', path: string, auth: string | null = BEARER) => {
    const req = request(t.app)[method](path);
    return auth ? req.set('Authorization', auth) : req;
  };
  const call = newCallSid();

  describe('from the operator API, the page and the metrics', () => {
    const cases: Array<[string, () => request.Test, number]> = [
      ['no credentials', () => api('get', '/api/stats', null), 401],
      ['a wrong token', () => api('get', '/api/sessions', 'Bearer not-the-admin-token-0123456789'), 401],
      ['a malformed Authorization header', () => api('get', '/api/stats', 'Basic %%%'), 401],
      ['an unknown scheme', () => api('get', '/metrics', 'Digest x'), 401],
      ['the page without credentials', () => api('get', '/', null), 401],
      ['an unknown path', () => api('get', '/no-such-page'), 404],
      ['an unknown path under /api', () => api('get', '/api/no-such-route'), 404],
      ['a malformed CallSid', () => api('get', '/api/calls/CA-nope'), 400],
      ['a malformed percent-escape in the path', () => api('get', '/api/calls/%E0%A4%A'), 400],
      ['a call the ledger does not know', () => api('get', `/api/calls/${call}`), 404],
      ['an unknown query parameter', () => api('get', '/api/sessions?colour=red'), 400],
      ['a bad state filter', () => api('get', '/api/sessions?state=sideways'), 400],
      ['a repeated filter', () => api('get', `/api/sessions?callSid=${call}&callSid=${call}`), 400],
      ['a cursor too long to be one', () => api('get', `/api/sessions?cursor=${'x'.repeat(201)}`), 400],
      ['a bad alerts limit', () => api('get', '/api/alerts?limit=0'), 400],
      ['malformed JSON', () => api('post', `/api/calls/${call}/siprec`).type('json').send('{"connectorName":'), 400],
      ['a JSON body that is not an object', () => api('post', `/api/calls/${call}/siprec`).type('json').send('[1]'), 400],
      ['a body with no connectorName', () => api('post', `/api/calls/${call}/siprec`).send({ name: 'x' }), 400],
      ['a form body', () => api('post', `/api/calls/${call}/siprec`).type('form').send({ connectorName: 'C' }), 415],
      ['a body over 64 KB', () => api('post', `/api/calls/${call}/siprec`).send({ connectorName: 'x'.repeat(70_000) }), 413],
      ['a bad session name to stop', () => api('post', `/api/calls/${call}/siprec/has%20space/stop`), 400],
      ['a Twilio that cannot be reached', () => api('post', `/api/calls/${call}/siprec/gridspace/stop`), 502],
    ];
    it.each(cases)('has the one shape for %s', async (_what, send, status) => {
      expectErrorShape(await send(), status);
    });

    it('has the one shape for the rate limiter\'s 429', async () => {
      for (let i = 0; i < 10; i++) await api('get', '/api/stats', 'Bearer wrong-token-number-0123456789').expect(401);
      expectErrorShape(await api('get', '/api/stats', 'Bearer wrong-token-number-0123456789'), 429);
    });
  });

  describe('from the Twilio webhook edge', () => {
    const base = 'https://calls.example.com/siprec';
    const signed = (path: string, form: Record<string, string>) =>
      request(t.app).post(path).type('form').set('X-Twilio-Signature', sign(base + path, form)).send(form);
    const cases: Array<[string, () => request.Test, number]> = [
      ['no signature', () => request(t.app).post('/twilio/voice').type('form').send(buildVoiceForm()), 400],
      ['a forged signature', () => request(t.app).post('/twilio/voice').type('form').set('X-Twilio-Signature', 'forged').send(buildVoiceForm()), 403],
      ['another account', () => signed('/twilio/voice', buildVoiceForm({ AccountSid: `AC${'f'.repeat(32)}` })), 403],
      ['a malformed voice request', () => signed('/twilio/voice', buildVoiceForm({ CallSid: 'nope' })), 400],
      ['a malformed status callback', () => signed('/twilio/siprec-status', buildStatusCallback({ SiprecSid: 'nope', Timestamp: '' })), 400],
      ['an unknown path', () => signed('/twilio/nope', buildVoiceForm()), 404],
      ['a method Twilio never uses', () => request(t.app).put('/twilio/voice').type('form').send('a=b'), 405],
      ['a body that is not a form', () => request(t.app).post('/twilio/voice').type('json').send('{}'), 415],
      ['a body over 64 KB', () => request(t.app).post('/twilio/voice').type('form').send(`a=${'x'.repeat(70_000)}`), 413],
    ];
    it.each(cases)('has the one shape for %s', async (_what, send, status) => {
      expectErrorShape(await send(), status);
    });
  });
});
