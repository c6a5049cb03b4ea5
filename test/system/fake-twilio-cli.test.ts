/**
 * npm run fake-twilio, as a user runs it: a real process that prints its URL and credentials, takes
 * the REST calls of a real server configured from what it printed, and stops on Ctrl-C.
 */
import { closedPort } from '../helpers/cli-process';
import { npmEnv, startChild, type Child } from '../helpers/checkout-copy';
import { TEST_ADMIN_TOKEN, TEST_PUBLIC_BASE_URL, tempDir, testEnv, type TempDir } from '../helpers/env';
import { ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm, sign } from '../helpers/twilio-requests';

const ENV_LINES = /^ {2}TWILIO_API_BASE_URL=(\S+)\n {2}TWILIO_ACCOUNT_SID=(\S+)\n {2}TWILIO_AUTH_TOKEN=(\S+)$/m;

describe('npm run fake-twilio', () => {
  let dir: TempDir;
  let fake: Child | undefined;
  let server: ServerProcess | undefined;
  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    fake?.kill();
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    fake = server = undefined;
    dir.remove();
  });

  const start = (args: string[]) => startChild('npm', ['run', '--silent', 'fake-twilio', '--', ...args], { cwd: ROOT, env: npmEnv() });

  it('prints its URL and credentials; a server configured from them starts and stops SIPREC through it; Ctrl-C stops it', async () => {
    const port = await closedPort();
    fake = start(['--port', String(port)]);
    const [, baseUrl, accountSid, authToken] = await fake.waitFor(ENV_LINES);
    expect(baseUrl).toBe(`http://127.0.0.1:${port}`);
    expect(accountSid).toMatch(/^AC[0-9a-f]{32}$/);
    expect(fake.output()).toContain(`fake Twilio REST API listening on http://127.0.0.1:${port}`);
    expect(fake.output()).toContain('Ctrl-C');

    server = await startServerProcess({
      ...testEnv(dir),
      TWILIO_API_BASE_URL: baseUrl!,
      TWILIO_ACCOUNT_SID: accountSid!,
      TWILIO_AUTH_TOKEN: authToken!,
    });
    const form = buildVoiceForm({ AccountSid: accountSid!, To: '+15559990000' }); // the default route: one session, room for one more
    const voice = await fetch(`${server.url}/twilio/voice`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(`${TEST_PUBLIC_BASE_URL}/twilio/voice`, form, authToken) },
      body: new URLSearchParams(form).toString(),
    });
    expect(voice.status).toBe(200);

    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const started = await fetch(`${server.url}/api/calls/${form.CallSid}/siprec`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ connectorName: 'Gridspace_1', name: 'extra' }),
    });
    expect({ status: started.status, body: await started.json() }).toMatchObject({ status: 201, body: { name: 'extra', siprecSid: expect.stringMatching(/^SR/) } });
    const stopped = await fetch(`${server.url}/api/calls/${form.CallSid}/siprec/extra/stop`, { method: 'POST', headers: auth });
    expect(stopped.status).toBe(202);
    await fake.waitFor(new RegExp(`POST /2010-04-01/Accounts/${accountSid}/Calls/${form.CallSid}/Siprec/extra\\.json Status=stopped`));

    fake.signalGroup('SIGINT');
    await fake.waitFor(/^fake Twilio stopped$/m);
    await fake.closed;
  });

  it('refuses a port in use with exit 1', async () => {
    const first = start(['--port', '0']);
    try {
      const [, url] = await first.waitFor(ENV_LINES);
      fake = start(['--port', new URL(url!).port]);
      expect(await fake.exited).toBe(1);
      await fake.closed;
      expect(fake.output()).toContain(`port ${new URL(url!).port} on 127.0.0.1 is in use; pick another with --port`);
    } finally {
      first.kill();
      await first.closed;
    }
  });

  it.each([
    [['--account-sid', 'AC123'], /--account-sid must be AC followed by 32 hex digits/],
    [['--port', '70000'], /--port must be a port number \(0-65535\)/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j is a usage error (exit 2)', async (args, problem) => {
    fake = start(args);
    expect(await fake.exited).toBe(2);
    await fake.closed;
    expect(fake.output()).toMatch(problem);
    expect(fake.output()).toContain('Usage: npm run fake-twilio -- [--port <n>]');
  });
});
