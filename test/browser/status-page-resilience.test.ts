import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startApiProxy, type ApiProxy } from '../helpers/api-proxy';
import { describeInChromium, launchChromium, type Problems, signedInPage } from '../helpers/browser';
import { NEWEST_FIRST, startSeededServer, type SeededServer } from './status-page.fixture';

/** Polls `cond` every 50 ms for at most `timeoutMs`. */
async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const TITLE = 'SIPREC status · siprec-control';
const isApi = (path: string) => path.startsWith('/api/');

// The page behind a real node:http proxy that a test can make hang, refuse or vanish.
describeInChromium('the status page when the API hangs, refuses or signs it out', () => {
  let seeded: SeededServer;
  let proxy: ApiProxy;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: Problems;
  let expectedProblems: RegExp[] = [];

  const waitForRows = (n: number) => page.waitForFunction((count) => document.querySelectorAll('#sessions-body tr').length === count, n);
  const apiRequests = () => proxy.seen.filter((line) => / \/api\//.test(line)).length;
  const updated = () => page.locator('#updated');

  beforeAll(async () => {
    seeded = await startSeededServer();
    proxy = await startApiProxy(seeded.server.url);
    browser = await launchChromium();
  }, 60_000);

  beforeEach(async () => {
    proxy.reset();
    ({ context, page, problems } = await signedInPage(browser, { viewport: { width: 1400, height: 900 } }));
    await page.goto(`${proxy.url}/?refresh=1`);
    await waitForRows(NEWEST_FIRST.length);
  });

  afterEach(async () => {
    const unexpected = problems.take(expectedProblems);
    expectedProblems = [];
    await context.close();
    proxy.reset();
    expect(unexpected).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await seeded?.close();
  });

  it('says a hung API is stale in the header, the title and the favicon, sends one refresh at a time, and recovers by itself', async () => {
    proxy.rule = ({ path }) => (isApi(path) ? 'hang' : 'forward');
    // Two refresh periods (2 s at ?refresh=1) without a good update.
    await updated().filter({ hasText: /^Last good update \d+ s ago/ }).waitFor();
    expect(await page.title()).toMatch(/^Last good update \d+ s ago · /);
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toMatch(/^data:image\/svg\+xml,/);

    // Clicking while a refresh hangs queues nothing more: at most one refresh (sessions, stats,
    // overview) is open. Sampled between the proxy's events, not at the instant one closes as the next opens.
    const held: number[] = [];
    const sampler = setInterval(() => held.push(proxy.held()), 100);
    try {
      for (let i = 0; i < 8; i += 1) await page.click('#refresh-now');
      // Each request has a deadline: the loop goes on asking instead of waiting for ever.
      const asked = apiRequests();
      await until('one more refresh after its deadline', () => apiRequests() >= asked + 3, 15_000);
    } finally {
      clearInterval(sampler);
    }
    expect(Math.max(...held)).toBeLessThanOrEqual(3);

    proxy.rule = () => 'forward';
    await updated().filter({ hasText: /^Updated / }).waitFor({ timeout: 15_000 });
    expect(await page.title()).toBe(TITLE);
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toBe('favicon.svg');
    expect(await page.locator('#sessions-body tr').count()).toBe(NEWEST_FIRST.length);
  });

  it.each([
    [401, /Not signed in/],
    [429, /Too many failed sign-ins/],
  ])('stops polling after a %i and disables Refresh now until a reload', async (status, advice) => {
    expectedProblems = [new RegExp(`status of ${status} .*/api/`)];
    proxy.rule = ({ path }) => (isApi(path) ? status : 'forward');
    await updated().filter({ hasText: /^Signed out/ }).waitFor();
    expect(await page.locator('#sessions-status').innerText()).toMatch(advice);
    expect(await page.locator('#refresh-now').isDisabled()).toBe(true);

    const asked = apiRequests();
    await page.evaluate(() => (document.getElementById('refresh-now') as HTMLButtonElement).click());
    await page.waitForTimeout(2500);
    expect(apiRequests()).toBe(asked);

    proxy.rule = () => 'forward';
    await page.reload();
    await updated().filter({ hasText: /^Updated / }).waitFor();
    expect(await page.locator('#refresh-now').isDisabled()).toBe(false);
  });

  it('puts an API error above the rows it could not refresh, and dims them', async () => {
    expectedProblems = [/status of 503 .*\/api\/sessions/];
    proxy.rule = ({ path }) => (path.startsWith('/api/sessions') ? 503 : 'forward');
    const status = page.locator('#sessions-status[data-kind="error"]');
    await status.waitFor();
    const box = await status.boundingBox();
    const table = await page.locator('#sessions-table').boundingBox();
    expect(box!.y + box!.height).toBeLessThanOrEqual(table!.y);
    expect(Number(await page.locator('#sessions-body').evaluate((el) => getComputedStyle(el).opacity))).toBeLessThan(0.7);
    proxy.rule = () => 'forward';
    await page.locator('#sessions-status[data-kind="error"]').waitFor({ state: 'detached' }).catch(() => undefined);
    await page.waitForFunction(() => document.getElementById('sessions-status')?.dataset.kind === '');
    expect(Number(await page.locator('#sessions-body').evaluate((el) => getComputedStyle(el).opacity))).toBe(1);
  });

  it('shows that a filter change is loading while a slow API has not answered', async () => {
    proxy.rule = ({ path }) => (path.startsWith('/api/sessions') && path.includes('state=failed') ? 'hang' : 'forward');
    await page.selectOption('#filter-state', 'failed');
    await page.locator('#sessions-status[data-kind="loading"]').waitFor();
    expect(await page.locator('#sessions-table').getAttribute('aria-busy')).toBe('true');
    expect(Number(await page.locator('#sessions-body').evaluate((el) => getComputedStyle(el).opacity))).toBeLessThan(0.7);
    proxy.rule = () => 'forward';
    await waitForRows(1);
    await page.waitForFunction(() => document.getElementById('sessions-table')?.getAttribute('aria-busy') !== 'true');
  });

  it('keeps "Unreachable" inside the Database tile, and the page from scrolling sideways at 1,100 px', async () => {
    proxy.rule = ({ path }) => (path.startsWith('/readyz') ? 'drop' : 'forward');
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.locator('#stat-db').filter({ hasText: 'Unreachable' }).waitFor();
    expectedProblems = [/net::ERR_EMPTY_RESPONSE/];
    const overflow = await page.evaluate(() => {
      const value = document.getElementById('stat-db')!;
      const tile = value.closest('.tile')!;
      return {
        value: value.scrollWidth - value.clientWidth,
        tile: tile.scrollWidth - tile.clientWidth,
        page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      };
    });
    expect(overflow).toEqual({ value: 0, tile: 0, page: 0 });
  });
});
