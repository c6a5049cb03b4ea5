import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext } from 'playwright-core';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { describeInChromium, launchChromium } from '../helpers/browser';
import { TEST_ACCOUNT_SID, TEST_ADMIN_TOKEN, TEST_AUTH_TOKEN, tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { newCallSid } from '../helpers/twilio-requests';

/** Another origin on 127.0.0.1 (another port): a page that auto-submits an empty form to `action`. */
async function startAttackerPage(action: string): Promise<{ url: string; close(): Promise<void> }> {
  const html = `<!doctype html><title>cute cats</title>
<form id="f" method="POST" action="${action}"></form>
<script>document.getElementById('f').submit()</script>`;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describeInChromium('a page on another origin cannot stop a recording (CSRF)', () => {
  let dir: TempDir;
  let fake: FakeTwilio;
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let attacker: Awaited<ReturnType<typeof startAttackerPage>> | undefined;
  let callSid: string;

  beforeAll(async () => {
    dir = tempDir();
    fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    server = await startServerProcess(testEnv(dir, undefined, { TWILIO_API_BASE_URL: fake.url }));
    browser = await launchChromium();
  }, 60_000);

  beforeEach(async () => {
    // A live call with a recording named rec1, and a Twilio that has been asked nothing yet.
    callSid = newCallSid();
    fake.calls.add(callSid);
    fake.addSiprec(callSid, 'rec1');
    fake.requests.length = 0;
    // The operator is signed in: the browser holds Basic credentials for the app's origin only.
    context = await browser.newContext({ httpCredentials: { username: 'ops', password: TEST_ADMIN_TOKEN, origin: server.url } });
  });
  afterEach(async () => {
    await context?.close();
    await attacker?.close();
    attacker = undefined;
  });
  afterAll(async () => {
    await browser?.close();
    server?.child.kill('SIGTERM');
    await server?.exited;
    await fake?.close();
    dir?.remove();
  });

  it('answers 403 to the auto-submitted form, and Twilio receives nothing', async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    // Signed in for real first: the browser has been challenged and has sent the credentials.
    expect((await page.goto(`${server.url}/`))?.status()).toBe(200);

    const stopUrl = `${server.url}/api/calls/${callSid}/siprec/rec1/stop`;
    attacker = await startAttackerPage(stopUrl);
    const answered = page.waitForResponse((r) => r.url() === stopUrl && r.request().method() === 'POST');
    await page.goto(attacker.url);
    const res = await answered;

    expect(res.status()).toBe(403);
    expect(res.request().headers().origin).toBe(new URL(attacker.url).origin);
    expect(await res.json()).toEqual({ error: expect.stringMatching(/^cross-site request refused/) });
    expect(fake.requests).toEqual([]);
    expect([...fake.siprecs.values()].filter((s) => s.callSid === callSid).map((s) => s.status)).toEqual(['in-progress']);
  });

  it('lets the status page itself stop the same session: its fetch is same-origin JSON', async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/`);
    // The page's own module, as its Stop button calls it (a string, so that no compiler rewrites the import).
    const res = await page.evaluate(`import('./api.js').then((api) => api.stopSiprec(${JSON.stringify(callSid)}, 'rec1'))`);
    expect(res).toMatchObject({ name: 'rec1', stopRequestedAt: expect.any(String) });
    expect(fake.requests.map((r) => r.form)).toEqual([{ Status: 'stopped' }]);
  });
});
