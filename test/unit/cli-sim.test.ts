import { diagnoseApiReply, diagnoseTwilioReply } from '../../src/cli/diagnose';
import { inspectStartTwiml } from '../../src/cli/twiml-inspect';
import type { Reply } from '../../src/cli/twilio-client-sim';

const json = (status: number, error: string): Reply => ({ status, contentType: 'application/json; charset=utf-8', text: JSON.stringify({ error }), location: null });
const ctx = { path: '/twilio/voice', url: 'http://127.0.0.1:3000', publicBaseUrl: 'https://calls.example.com' };

describe('inspectStartTwiml', () => {
  it('reads each <Siprec> in <Start> with its callback and method, and the verbs that follow', () => {
    const check = inspectStartTwiml(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Start><Siprec name="a" connectorName="A" statusCallback="https://x/cb#rc=5" statusCallbackMethod="GET"/><Siprec name="b" connectorName="B"/></Start><Dial><Number>+15551230000</Number></Dial></Response>',
    );
    expect(check).toEqual({
      ok: true,
      verbs: ['Start', 'Dial'],
      siprecs: [
        { name: 'a', connectorName: 'A', statusCallback: 'https://x/cb#rc=5', statusCallbackMethod: 'GET' },
        { name: 'b', connectorName: 'B', statusCallback: null, statusCallbackMethod: 'POST' },
      ],
    });
  });

  it.each([
    ['', /does not parse as XML \(missing root element\)/],
    ['<Response><Start>', /does not parse as XML \(unclosed/],
    ['<Response><Start><Siprec name="a" name="b" connectorName="A"/></Start></Response>', /does not parse as XML/],
    ['<html><body>It works!</body></html>', /root is <html>, not <Response>/],
    ['<Response><Say>hello</Say></Response>', /no <Start><Siprec>/],
    ['<Response><Siprec name="a" connectorName="A"/></Response>', /no <Start><Siprec>/],
    ['<Response><Start><Siprec connectorName="A"/></Start></Response>', /has no name/],
  ])('refuses %j', (xml, problem) => {
    const check = inspectStartTwiml(xml);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.problem).toMatch(problem);
  });
});

describe('diagnoseTwilioReply', () => {
  it('calls a 403 a signature mismatch and names PUBLIC_BASE_URL and the auth token', () => {
    const d = diagnoseTwilioReply(json(403, 'X-Twilio-Signature does not match this request'), ctx);
    expect(d.detail).toBe('403 (X-Twilio-Signature does not match this request): signature mismatch');
    expect(d.hint).toContain('https://calls.example.com/twilio/voice');
    expect(d.hint).toContain('PUBLIC_BASE_URL is not exactly the URL Twilio calls');
    expect(d.hint).toContain('TWILIO_AUTH_TOKEN differs');
  });

  it('tells a refused account apart from a bad signature', () => {
    const d = diagnoseTwilioReply(json(403, 'request is for another Twilio account'), ctx);
    expect(d.hint).toMatch(/TWILIO_ACCOUNT_SID/);
    expect(d.detail).not.toContain('signature mismatch');
  });

  it('blames a proxy that drops the signature header', () => {
    expect(diagnoseTwilioReply(json(400, 'missing X-Twilio-Signature header'), ctx).hint).toMatch(/proxy .* drops the header/);
  });

  it('explains that a redirect breaks the signature, with its Location', () => {
    const d = diagnoseTwilioReply({ status: 301, contentType: 'text/html', text: '', location: 'https://calls.example.com/twilio/voice' }, ctx);
    expect(d.detail).toBe('301 (Location: https://calls.example.com/twilio/voice)');
    expect(d.hint).toMatch(/does not sign a redirected request again/);
  });

  it('points a 404 at --url and the proxy prefix, and a status-callback 503 at the ledger', () => {
    expect(diagnoseTwilioReply(json(404, 'no route for POST /twilio/voice'), ctx).hint).toMatch(/check --url/);
    expect(diagnoseTwilioReply(json(503, 'the ledger cannot store this callback right now; retry'), { ...ctx, path: '/twilio/siprec-status' }).hint).toMatch(/could not commit/);
  });
});

describe('diagnoseApiReply', () => {
  it('asks for the instance\'s admin token on a 401', () => {
    expect(diagnoseApiReply(json(401, 'invalid credentials')).hint).toMatch(/--admin-token/);
  });

  it('says the call was not recorded when the ledger does not know it', () => {
    expect(diagnoseApiReply(json(404, 'call CA00 is not in the ledger')).hint).toMatch(/did not record this call/);
  });
});
