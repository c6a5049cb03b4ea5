import { createServer } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { describeInChromium, launchChromium, type Problems, signedInPage } from '../helpers/browser';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

/** A port free right now, so a restarted server keeps the page's origin. */
function freePort(): Promise<string> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(String(address.port)) : reject(new Error('no port'))));
    });
  });
}

describeInChromium('the status page without credentials, with nothing to show, and when the server goes away', () => {
  let dir: TempDir;
  let env: Record<string, string>;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let problems: Problems;

  beforeAll(async () => {
    dir = tempDir();
    env = testEnv(dir, undefined, { PORT: await freePort() });
    server = await startServerProcess(env);
    browser = await launchChromium();
    ({ page, problems } = await signedInPage(browser));
    await page.goto(`${server.url}/?refresh=1`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.child.kill('SIGKILL');
    dir?.remove();
  });

  const status = () => page.locator('#sessions-status');

  it('answers 401 with a Basic challenge for the page, its files and the API without credentials, and 404 elsewhere', async () => {
    for (const p of ['/', '/app.js', '/style.css', '/api/sessions']) {
      const res = await fetch(`${server.url}${p}`);
      expect({ p, status: res.status }).toEqual({ p, status: 401 });
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="siprec-control", charset="UTF-8"');
    }
    // The page claims only its own files: any other path stays the app's JSON 404.
    const other = await fetch(`${server.url}/no-such-page`);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ error: 'no route for GET /no-such-page' });
  });

  it('says how to get the first session instead of showing an empty table', async () => {
    await page.locator('#sessions-status[data-kind="empty"]').waitFor();
    expect(await status().innerText()).toMatch(/^No sessions yet\s+Point a Twilio number's voice URL at PUBLIC_BASE_URL\/twilio\/voice/);
    expect(await page.locator('#stat-active').innerText()).toBe('0');
    expect(await page.locator('#stat-error').innerText()).toBe('None');
    expect(await page.locator('#sessions-body tr').count()).toBe(0);
    expect(problems.take()).toEqual([]);
  });

  it('says the server did not answer, and keeps retrying, when it goes away', async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await page.locator('#sessions-status[data-kind="error"]').waitFor();
    expect(await status().innerText()).toMatch(/Could not load sessions: No answer from the server\s+.*check that siprec-control is running.*Retrying every 1 s/s);
    // At first the failure's time; two refresh periods after the last good update, its age.
    expect(await page.locator('#updated').innerText()).toMatch(/^(Update failed at \S+|Last good update \d+ s ago)/);
    expect(await page.locator('#stat-db').innerText()).toBe('Unreachable');
    // The browser logs each refused connection; nothing else may appear.
    expect(problems.take([/net::ERR_CONNECTION_REFUSED/])).toEqual([]);
  });

  it('stops polling and says to sign in again once the admin token has changed', async () => {
    server = await startServerProcess({ ...env, ADMIN_TOKEN: 'a-rotated-admin-token-0123456789' });
    await page.waitForFunction(() => /^Signed out at /.test(document.getElementById('updated')?.textContent ?? ''));
    expect(await status().innerText()).toContain('Not signed in: reload the page');
    const polled: string[] = [];
    page.on('request', (r) => void polled.push(r.url()));
    await page.waitForTimeout(2500);
    expect(polled).toEqual([]);
    expect(problems.take([/net::ERR_CONNECTION_REFUSED/, /status of 401 .*\/api\/(sessions|stats|overview)/])).toEqual([]);
  });
});
