import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { closedPort, runCli } from '../helpers/cli-process';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

/**
 * A reverse proxy on 127.0.0.1 that serves the instance under `/siprec` and strips that prefix, as
 * a deployment at https://calls.example.com/siprec would; `dropSignature` plays a proxy that loses the header.
 */
async function startPrefixProxy(target: string, options: { dropSignature?: boolean } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    if (!req.url?.startsWith('/siprec/')) return void res.writeHead(404).end('not under /siprec');
    const headers = { ...req.headers };
    if (options.dropSignature) delete headers['x-twilio-signature'];
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url.slice('/siprec'.length), headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/siprec`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('siprec-control simulate', () => {
  let dir: TempDir;
  let server: ServerProcess;
  let env: Record<string, string>;
  beforeEach(async () => {
    dir = tempDir();
    env = testEnv(dir); // PUBLIC_BASE_URL=https://calls.example.com/siprec
    server = await startServerProcess(env);
  });
  afterEach(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.remove();
  });

  const sessionsOf = (callSid: string) => {
    const db = new Database(env.DATABASE_PATH, { readonly: true });
    try {
      return db.prepare('SELECT name, state FROM siprec_sessions WHERE call_sid = ? ORDER BY name').all(callSid);
    } finally {
      db.close();
    }
  };

  it('plays a signed call through every step, exits 0, and the call is in the ledger with its sessions stopped', async () => {
    const { code, stdout } = await runCli(['simulate', '--url', server.url, '--to', '+15550001111', '--from', '+14155550123'], env, dir.dir);
    expect(code).toBe(0);
    for (const line of [
      /^ {2}sending to http:\/\/127\.0\.0\.1:\d+, signed for https:\/\/calls\.example\.com\/siprec$/m,
      /^ {2}ok {4}voice webhook: 200, TwiML starts gridspace \(Gridspace_1\), compliance \(Compliance_SRS\), then <Redirect>$/m,
      /^ {2}ok {4}siprec-started gridspace: 204 \(POST SR[0-9a-f]{32}\)$/m,
      /^ {2}ok {4}siprec-started compliance: 204/m,
      /^ {2}ok {4}siprec-stopped gridspace: 204/m,
      /^ {2}ok {4}siprec-stopped compliance: 204/m,
      /^ {2}ok {4}read back GET \/api\/calls\/:sid: gridspace stopped, compliance stopped$/m,
      /^simulate: all 6 steps passed$/m,
    ]) {
      expect(stdout).toMatch(line);
    }
    const callSid = /call (CA[0-9a-f]{32})/.exec(stdout)![1];
    expect(sessionsOf(callSid!)).toEqual([
      { name: 'compliance', state: 'stopped' },
      { name: 'gridspace', state: 'stopped' },
    ]);
  });

  it('with a PUBLIC_BASE_URL other than the server\'s, exits 1, diagnoses a signature mismatch, and the server records nothing', async () => {
    const wrong = { ...env, PUBLIC_BASE_URL: 'https://calls.example.com' };
    const { code, stdout } = await runCli(['simulate', '--url', server.url], wrong, dir.dir);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ {2}FAIL {2}voice webhook: 403 \(X-Twilio-Signature does not match this request\): signature mismatch$/m);
    expect(stdout).toContain('hint: the instance computed another X-Twilio-Signature for https://calls.example.com/twilio/voice');
    expect(stdout).toContain('PUBLIC_BASE_URL is not exactly the URL Twilio calls: scheme (https), host, port and path prefix');
    expect(stdout).toContain('TWILIO_AUTH_TOKEN differs');
    expect(stdout).not.toContain('siprec-started');
    expect(stdout).toMatch(/^simulate: FAILED \(0 passed, 1 failed\)$/m);
    expect(sessionsOf(/call (CA[0-9a-f]{32})/.exec(stdout)![1]!)).toEqual([]);
  });

  it('with another auth token, gives the same diagnosis', async () => {
    const { code, stdout } = await runCli(['simulate', '--url', server.url], { ...env, TWILIO_AUTH_TOKEN: 'a-token-the-server-does-not-know' }, dir.dir);
    expect(code).toBe(1);
    expect(stdout).toContain('signature mismatch');
  });

  it('passes through a proxy that serves the instance under a path prefix', async () => {
    const proxy = await startPrefixProxy(server.url);
    try {
      const { code, stdout } = await runCli(['simulate', '--url', proxy.url], env, dir.dir);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^simulate: all 6 steps passed$/m);
    } finally {
      await proxy.close();
    }
  });

  it('blames a proxy that drops X-Twilio-Signature', async () => {
    const proxy = await startPrefixProxy(server.url, { dropSignature: true });
    try {
      const { code, stdout } = await runCli(['simulate', '--url', proxy.url], env, dir.dir);
      expect(code).toBe(1);
      expect(stdout).toMatch(/FAIL {2}voice webhook: 400 \(missing X-Twilio-Signature header\)/);
      expect(stdout).toContain('a proxy in front of it drops the header');
    } finally {
      await proxy.close();
    }
  });

  it('with the wrong admin token, fails the read-back with a hint', async () => {
    const { code, stdout } = await runCli(['simulate', '--url', server.url, '--admin-token', 'not-the-admin-token-of-this-server'], env, dir.dir);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ {2}ok {4}siprec-stopped compliance: 204/m);
    expect(stdout).toMatch(/^ {2}FAIL {2}read back GET \/api\/calls\/:sid: 401 \(invalid credentials\)$/m);
    expect(stdout).toContain("hint: the admin token was refused: pass the instance's ADMIN_TOKEN with --admin-token");
  });

  it('against nothing, exits 1 and says nothing answered', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code, stdout } = await runCli(['simulate', '--url', url], env, dir.dir);
    expect(code).toBe(1);
    expect(stdout).toContain(`FAIL  voice webhook: no answer from ${url}/twilio/voice (ECONNREFUSED)`);
    expect(stdout).toContain(`hint: nothing answered at ${url}`);
  });
});
