import http from 'node:http';
import Database from 'better-sqlite3';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { runMain, startServerProcess } from '../helpers/server-process';
import { buildVoiceForm, sign } from '../helpers/twilio-requests';

describe('the server process', () => {
  let dir: TempDir;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  it('refuses to start on a bad config, exits 1 and names each variable without echoing secrets', async () => {
    const env = { ...testEnv(dir), ADMIN_TOKEN: 'short-secret', PUBLIC_BASE_URL: 'not-a-url' };
    const { code, stderr, stdout } = await runMain(env);
    expect(code).toBe(1);
    expect(stderr).toContain('PUBLIC_BASE_URL: must be an absolute http(s) URL');
    expect(stderr).toContain('ADMIN_TOKEN: must be at least 24 characters');
    expect(stderr + stdout).not.toContain('short-secret');
    expect(stdout).not.toContain('listening');
  });

  it('answers a signed call, then on SIGTERM finishes the in-flight request and exits 0 with the database closed', async () => {
    const env = testEnv(dir);
    const server = await startServerProcess(env);
    try {
      const health = await fetch(`${server.url}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok' });
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

      const form = buildVoiceForm();
      const body = new URLSearchParams(form).toString();
      // Send the headers now and the body later, so the request is in flight when SIGTERM lands.
      const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(`${server.url}/twilio/voice`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            'x-twilio-signature': sign(`${env.PUBLIC_BASE_URL}/twilio/voice`, form),
          },
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.flushHeaders();
        setTimeout(() => {
          server.child.kill('SIGTERM');
          setTimeout(() => req.end(body), 300);
        }, 200);
      });
      const res = await response;
      expect(res.status).toBe(200);
      expect(res.text).toContain('<Siprec');
      expect(await server.exited).toBe(0);
      expect(server.output()).toContain('database closed');

      const db = new Database(env.DATABASE_PATH, { readonly: true });
      expect(db.prepare('SELECT call_sid FROM calls').all()).toEqual([{ call_sid: form.CallSid }]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('never logs tokens, signatures, the admin token or phone numbers', async () => {
    const env = testEnv(dir, undefined, { LOG_LEVEL: 'trace' });
    const server = await startServerProcess(env);
    const form = buildVoiceForm();
    const signature = sign(`${env.PUBLIC_BASE_URL}/twilio/voice`, form);
    await fetch(`${server.url}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(form) });
    await fetch(`${server.url}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'forged' }, body: new URLSearchParams(form) });
    server.child.kill('SIGTERM');
    await server.exited;
    const out = server.output();
    expect(out).toContain('"path":"/twilio/voice"');
    for (const secret of [signature, env.TWILIO_AUTH_TOKEN!, env.ADMIN_TOKEN!]) expect(out).not.toContain(secret);
    for (const number of [form.From!, form.To!]) expect(out).not.toContain(number.slice(1));
  });
});
