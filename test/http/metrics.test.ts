import request from 'supertest';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN } from '../helpers/env';
import { BEARER, basicAuth } from '../helpers/operator-api';
import { findSample, parsePrometheusText, PrometheusParseError, type MetricFamily } from '../helpers/prometheus-text';
import { describeEachBackend } from '../helpers/backends';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, newCallSid } from '../helpers/twilio-requests';

const STATUS = '/twilio/siprec-status';

async function scrape(t: TestApp): Promise<Map<string, MetricFamily>> {
  const res = await request(t.app).get('/metrics').set('Authorization', BEARER).expect(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheusText(res.text);
}

/** A sample's value, 0 when the series does not exist yet (a counter never incremented). */
const value = (m: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}) => findSample(m, name, labels)?.value ?? 0;
const findSamples = (m: Map<string, MetricFamily>, name: string) => [...m.values()].flatMap((f) => f.samples).filter((s) => s.name === name);

describeEachBackend('GET /metrics', (backend) => {
  let t: TestApp;
  let fake: FakeTwilio;
  beforeEach(async () => {
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    t = await createTestApp({ backend, twilio: fake });
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
  });

  describe('without the admin token', () => {
    it.each([
      ['no Authorization', undefined],
      ['a wrong Bearer token', 'Bearer not-the-admin-token-0123456789'],
    ])('answers 401 with %s and shows no metric', async (_what, header) => {
      const req = request(t.app).get('/metrics');
      const res = await (header ? req.set('Authorization', header) : req).expect(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="siprec-control", charset="UTF-8"');
      expect(res.text).not.toContain('siprec_');
    });
  });

  describe('with the admin token', () => {
    it('answers Prometheus text that parses, with every family and its type', async () => {
      const m = await scrape(t);
      const types = Object.fromEntries([...m.values()].map((f) => [f.name, f.type]));
      expect(types).toMatchObject({
        siprec_http_requests_total: 'counter',
        siprec_http_request_duration_seconds: 'histogram',
        siprec_signature_failures_total: 'counter',
        siprec_status_callbacks_total: 'counter',
        siprec_sessions: 'gauge',
        siprec_ledger_write_failures_total: 'counter',
        siprec_twilio_rest_calls_total: 'counter',
        siprec_alert_deliveries_total: 'counter',
        process_cpu_seconds_total: 'counter',
        process_resident_memory_bytes: 'gauge',
        nodejs_eventloop_lag_seconds: 'gauge',
      });
      for (const f of m.values()) expect(f.help).toEqual(expect.any(String));
      expect(findSample(m, 'siprec_sessions', { state: 'requested' })?.value).toBe(0);
    });

    it('accepts Basic with the token as password too', async () => {
      await request(t.app).get('/metrics').set('Authorization', basicAuth('prometheus', t.config.adminToken)).expect(200);
    });
  });

  describe('as traffic flows', () => {
    it('moves the request, callback, session, signature and REST counters by exactly what happened', async () => {
      const before = await scrape(t);

      const call = buildVoiceForm();
      await t.postTwilio('/twilio/voice', call).expect(200);
      await t.postTwilio('/twilio/voice', { ...call, CallSid: 'not-a-sid' }).expect(400);
      await request(t.app).post('/twilio/voice').type('form').set('X-Twilio-Signature', 'forged').send(buildVoiceForm()).expect(403);
      // Twilio's gridspace is one session with one SID, in its callbacks and its REST answers alike.
      fake.calls.add(call.CallSid!);
      const gridspace = fake.addSiprec(call.CallSid!, 'gridspace');
      const started = buildStatusCallback({ CallSid: call.CallSid!, SiprecName: 'gridspace', SiprecSid: gridspace.sid });
      await t.postTwilio(STATUS, started).expect(204);
      await t.postTwilio(STATUS, started).expect(204);
      await t.postTwilio(STATUS, buildStatusCallback({ CallSid: call.CallSid!, SiprecName: 'compliance', SiprecEvent: 'siprec-error', SiprecErrorCode: '64101' })).expect(204);
      await t.postTwilio(STATUS, buildStatusCallback({ SiprecEvent: 'siprec-paused' })).expect(204);
      await request(t.app).get(`/api/calls/${call.CallSid}`).set('Authorization', BEARER).expect(200);
      await request(t.app).get('/nowhere').set('Authorization', BEARER).expect(404);
      await request(t.app).post(`/api/calls/${call.CallSid}/siprec/gridspace/stop`).set('Authorization', BEARER).expect(202);
      fake.failNext('500');
      await request(t.app).post(`/api/calls/${call.CallSid}/siprec/compliance/stop`).set('Authorization', BEARER).expect(502);

      const after = await scrape(t);
      const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
      const requests = (route: string, method: string, status: string) => delta('siprec_http_requests_total', { route, method, status });

      expect(requests('/twilio/voice', 'POST', '200')).toBe(1);
      // The 400 is thrown inside the /twilio router: still counted under the full pattern.
      expect(requests('/twilio/voice', 'POST', '400')).toBe(1);
      expect(requests('/twilio/siprec-status', 'POST', '204')).toBe(4);
      expect(requests('/api/calls/:callSid', 'GET', '200')).toBe(1);
      expect(requests('/api/calls/:callSid/siprec/:name/stop', 'POST', '202')).toBe(1);
      expect(requests('/api/calls/:callSid/siprec/:name/stop', 'POST', '502')).toBe(1);
      // A forged request is counted under the webhook it was aimed at.
      expect(requests('/twilio/voice', 'POST', '403')).toBe(1);
      expect(requests('unmatched', 'GET', '404')).toBe(1);
      expect(delta('siprec_http_request_duration_seconds_count', { route: '/twilio/voice', method: 'POST', status: '200' })).toBe(1);
      expect(delta('siprec_http_request_duration_seconds_bucket', { route: '/twilio/voice', method: 'POST', status: '200', le: '+Inf' })).toBe(1);

      expect(delta('siprec_signature_failures_total', { reason: 'mismatch' })).toBe(1);
      expect(delta('siprec_status_callbacks_total', { event: 'siprec-started', result: 'stored' })).toBe(1);
      expect(delta('siprec_status_callbacks_total', { event: 'siprec-started', result: 'duplicate' })).toBe(1);
      expect(delta('siprec_status_callbacks_total', { event: 'siprec-error', result: 'stored' })).toBe(1);
      expect(delta('siprec_status_callbacks_total', { event: 'other', result: 'stored' })).toBe(1);
      expect(findSample(after, 'siprec_status_callbacks_total', { event: 'siprec-paused' })).toBeUndefined();

      // The voice call's gridspace is active, its compliance failed; the unknown event's session is still requested.
      expect(value(after, 'siprec_sessions', { state: 'active' })).toBe(1);
      expect(value(after, 'siprec_sessions', { state: 'failed' })).toBe(1);
      expect(value(after, 'siprec_sessions', { state: 'requested' })).toBe(1);
      expect(value(after, 'siprec_sessions', { state: 'stopped' })).toBe(0);

      expect(delta('siprec_twilio_rest_calls_total', { operation: 'stop', outcome: 'ok' })).toBe(1);
      expect(delta('siprec_twilio_rest_calls_total', { operation: 'stop', outcome: 'unavailable' })).toBe(1);

      // Raw URLs never become label values: no CallSid in any label.
      const labelValues = [...after.values()].flatMap((f) => f.samples.flatMap((s) => Object.values(s.labels)));
      expect(labelValues.filter((v) => /CA[0-9a-f]{32}/.test(v))).toEqual([]);
    });
  });
});

describe('siprec_http_requests_total for requests refused before their route runs', () => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp()));
  afterEach(async () => t.close());

  it('counts a 401, a body error and the page under the route they were addressed to, and only unknown paths as unmatched', async () => {
    const before = await scrape(t);
    const callSid = newCallSid();
    const start = `/api/calls/${callSid}/siprec`;
    await request(t.app).get('/api/stats').expect(401);
    await request(t.app).get(`/api/calls/${callSid}`).set('Authorization', 'Bearer not-the-admin-token-0123456789').expect(401);
    await request(t.app).get('/').expect(401);
    await request(t.app).get('/app.js').expect(401);
    await request(t.app).get('/metrics').expect(401);
    await request(t.app).get('/').set('Authorization', BEARER).expect(200);
    await request(t.app).post(start).set('Authorization', BEARER).type('json').send('{"connectorName":').expect(400);
    await request(t.app).post(start).set('Authorization', BEARER).type('form').send({ connectorName: 'C' }).expect(415);
    await request(t.app).post(start).set('Authorization', BEARER).type('json').send({ connectorName: 'x'.repeat(70_000) }).expect(413);
    await request(t.app).get('/api/no-such-route').expect(401);
    await request(t.app).get('/no-such-page').set('Authorization', BEARER).expect(404);
    await request(t.app).delete('/api/stats').set('Authorization', BEARER).expect(404);

    const after = await scrape(t);
    const requests = (route: string, method: string, status: string) =>
      value(after, 'siprec_http_requests_total', { route, method, status }) - value(before, 'siprec_http_requests_total', { route, method, status });
    expect(requests('/api/stats', 'GET', '401')).toBe(1);
    expect(requests('/api/calls/:callSid', 'GET', '401')).toBe(1);
    expect(requests('/', 'GET', '401')).toBe(1);
    expect(requests('/app.js', 'GET', '401')).toBe(1);
    expect(requests('/metrics', 'GET', '401')).toBe(1);
    expect(requests('/', 'GET', '200')).toBe(1);
    expect(requests('/api/calls/:callSid/siprec', 'POST', '400')).toBe(1);
    expect(requests('/api/calls/:callSid/siprec', 'POST', '415')).toBe(1);
    expect(requests('/api/calls/:callSid/siprec', 'POST', '413')).toBe(1);
    // No route has these paths (or this method): they stay unmatched, and their path is no label.
    expect(requests('unmatched', 'GET', '401')).toBe(1);
    expect(requests('unmatched', 'GET', '404')).toBe(1);
    expect(requests('unmatched', 'DELETE', '404')).toBe(1);
    const routes = new Set(findSamples(after, 'siprec_http_requests_total').map((s) => s.labels.route));
    expect([...routes].filter((r) => /no-such|CA[0-9a-f]{32}/.test(r!))).toEqual([]);
  });

  it('counts a route under its own pattern whatever case the path is written in, so no caller adds a label', async () => {
    const before = await scrape(t);
    const callSid = newCallSid();
    // Express matches paths case-insensitively, and req.baseUrl keeps the case the caller wrote.
    await request(t.app).get('/API/stats').set('Authorization', BEARER).expect(200);
    await request(t.app).get('/aPi/STATS/').set('Authorization', BEARER).expect(200);
    await request(t.app).get(`/Api/calls/${callSid}`).set('Authorization', BEARER).expect(404);
    await request(t.app).head('/API/stats').set('Authorization', BEARER).expect(200);
    await request(t.app).get('/APP.JS').set('Authorization', BEARER);

    const after = await scrape(t);
    const requests = (route: string, method: string, status: string) =>
      value(after, 'siprec_http_requests_total', { route, method, status }) - value(before, 'siprec_http_requests_total', { route, method, status });
    expect(requests('/api/stats', 'GET', '200')).toBe(2);
    expect(requests('/api/calls/:callSid', 'GET', '404')).toBe(1);
    expect(requests('/api/stats', 'HEAD', '200')).toBe(1);
    const routes = [...new Set(findSamples(after, 'siprec_http_requests_total').map((s) => s.labels.route!))];
    expect(routes.filter((r) => r.replace(/:[A-Za-z]+/g, '') !== r.replace(/:[A-Za-z]+/g, '').toLowerCase())).toEqual([]);
  });
});

describe('the Prometheus text parser these tests use', () => {
  it('reads HELP, TYPE, labels with escapes, special values and timestamps', () => {
    const m = parsePrometheusText(
      [
        '# HELP x_total A "quoted" help\\nwith a newline and a \\\\ backslash',
        '# TYPE x_total counter',
        'x_total{path="C:\\\\dir",msg="say \\"hi\\"\\n",} 3 1700000000000',
        'x_total 1e3',
        '# a plain comment',
        'y NaN',
        'z{a="1"} +Inf',
      ].join('\n'),
    );
    expect(m.get('x_total')).toEqual({
      name: 'x_total',
      type: 'counter',
      help: 'A "quoted" help\nwith a newline and a \\ backslash',
      samples: [
        { name: 'x_total', labels: { path: 'C:\\dir', msg: 'say "hi"\n' }, value: 3, timestamp: 1700000000000 },
        { name: 'x_total', labels: {}, value: 1000 },
      ],
    });
    expect(m.get('y')?.samples[0]?.value).toBeNaN();
    expect(m.get('z')).toMatchObject({ type: 'untyped', samples: [{ value: Infinity }] });
  });

  it.each([
    ['a missing value', 'x_total{a="1"}'],
    ['an unquoted label value', 'x_total{a=1} 1'],
    ['an unterminated label value', 'x_total{a="1} 1'],
    ['a bad escape', 'x_total{a="\\t"} 1'],
    ['a value that is not a float', 'x_total 1,5'],
    ['a metric name starting with a digit', '1x 1'],
    ['a label given twice', 'x{a="1",a="2"} 1'],
    ['an unknown TYPE', '# TYPE x countr'],
    ['a TYPE after samples', 'x 1\n# TYPE x counter'],
    ['a family split in two groups', 'x 1\ny 1\nx 2'],
  ])('refuses %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow(PrometheusParseError);
  });

  it('refuses a histogram whose buckets do not add up', () => {
    const text = ['# TYPE h histogram', 'h_bucket{le="1"} 5', 'h_bucket{le="+Inf"} 3', 'h_sum 1', 'h_count 3'].join('\n');
    expect(() => parsePrometheusText(text)).toThrow(/not cumulative/);
  });
});
