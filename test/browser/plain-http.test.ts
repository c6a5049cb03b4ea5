import { createServer } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, describeInChromium, watchForProblems } from '../helpers/browser';
import { TEST_ADMIN_TOKEN, tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

/** A name that is not localhost (which browsers treat as secure), resolved to 127.0.0.1 by Chromium alone. */
const HOST_NAME = 'siprec.internal';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describeInChromium('the status page over plain http on a host name other than localhost', () => {
  let dir: TempDir;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let origin: string;
  const failed: string[] = [];
  const loaded: string[] = [];

  beforeAll(async () => {
    dir = tempDir();
    const port = await freePort();
    origin = `http://${HOST_NAME}:${port}`;
    // An operator on an internal network without TLS: PUBLIC_BASE_URL says http.
    server = await startServerProcess(testEnv(dir, undefined, { PORT: String(port), PUBLIC_BASE_URL: origin }));
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${HOST_NAME} 127.0.0.1`],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.child.kill('SIGKILL');
    dir?.remove();
  });

  it('loads app.js and style.css over http and renders the page', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'ops', password: TEST_ADMIN_TOKEN } });
    try {
      page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems = await watchForProblems(context, page);
      page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
      page.on('requestfinished', (r) => loaded.push(r.url()));
      await page.goto(`${origin}/?refresh=1`);
      // The load event has fired: with upgrade-insecure-requests, https://…/app.js has failed by now.
      expect(failed).toEqual([]);
      // Only app.js fills these in: an upgraded (https) app.js never loads and the page stays "Loading…".
      await page.waitForFunction(() => document.querySelector('#updated time') !== null && document.getElementById('stat-active')?.textContent === '0');
      expect(loaded).toEqual(expect.arrayContaining([`${origin}/app.js`, `${origin}/style.css`]));
      expect(loaded.filter((u) => !u.startsWith(`${origin}/`))).toEqual([]);
      await page.locator('#sessions-status[data-kind="empty"]').waitFor();
      expect(problems.take()).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
