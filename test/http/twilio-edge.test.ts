import { createServer } from 'node:http';
import net from 'node:net';
import request from 'supertest';
import { ledgerSnapshot } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, sign } from '../helpers/twilio-requests';

/** The webhook edge runs beside Express, not inside it: what Express gave the routes must still hold. */
describe('the Twilio webhook edge', () => {
  let t: TestApp;
  beforeEach(async () => (t = await createTestApp()));
  afterEach(async () => t.close());

  /** Calls in the ledger: each one these webhooks store has a session, so the listing finds them all. */
  const calls = async () => Object.keys((await ledgerSnapshot(t)).calls).length;

  it('answers with TwiML, its length, an X-Request-Id and nosniff', async () => {
    const res = await t.postTwilio('/twilio/voice', buildVoiceForm()).expect(200);
    expect(res.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('echoes a safe X-Request-Id and replaces an unsafe one', async () => {
    const form = buildVoiceForm();
    const signature = sign(t.config.publicBaseUrl + '/twilio/voice', form);
    const post = (id: string) => request(t.app).post('/twilio/voice').type('form').set('X-Twilio-Signature', signature).set('X-Request-Id', id).send(form);
    expect((await post('lb-1234.abc').expect(200)).headers['x-request-id']).toBe('lb-1234.abc');
    const replaced = (await post('<script>').expect(200)).headers['x-request-id'];
    expect(replaced).not.toBe('<script>');
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('matches paths as Express did: one trailing slash and any letter case', async () => {
    await t.postTwilio('/twilio/voice/', buildVoiceForm()).expect(200);
    await t.postTwilio('/Twilio/Voice', buildVoiceForm()).expect(200);
    await t.postTwilio('/twilio/siprec-status/', buildStatusCallback()).expect(204);
    expect(await calls()).toBe(3);
  });

  it('checks the signature before saying a path does not exist: 400 unsigned, 403 forged, 404 only when signed', async () => {
    const form = buildVoiceForm();
    await request(t.app).post('/twilio/nope').type('form').send(form).expect(400);
    await request(t.app).post('/twilio/nope').type('form').set('X-Twilio-Signature', 'forged').send(form).expect(403);
    const res = await t.postTwilio('/twilio/nope', form).expect(404);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.body).toEqual({ error: 'no route for POST /twilio/nope' });
    expect(await calls()).toBe(0);
  });

  it('leaves every other path to Express: helmet headers, the JSON 404, the health check', async () => {
    const health = await request(t.app).get('/healthz').expect(200);
    expect(health.headers['content-security-policy']).toBeDefined();
    expect(health.body).toEqual({ status: 'ok' });
    await request(t.app).get('/twilioish').expect(404);
  });

  it('keeps serving after a client abandons a request mid-body', async () => {
    const server = createServer(t.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\nX-Twilio-Signature: x\r\n\r\nCallSid=CA');
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const form = buildVoiceForm();
    await request(server).post('/twilio/voice').type('form').set('X-Twilio-Signature', sign(t.config.publicBaseUrl + '/twilio/voice', form)).send(form).expect(200);
    expect(await calls()).toBe(1);
    await new Promise((r) => server.close(r));
  });
});
