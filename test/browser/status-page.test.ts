import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { FakeTwilio } from '../../src/dev/fake-twilio';
import { closeDialogs, describeInChromium, launchChromium, type Problems, signedInPage } from '../helpers/browser';
import { TEST_ACCOUNT_SID, TEST_ADMIN_TOKEN } from '../helpers/env';
import { ROOT, type ServerProcess } from '../helpers/server-process';
import { done, hostile, live, NEWEST_FIRST, startSeededServer, XSS, type SeededServer } from './status-page.fixture';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');

describeInChromium('the status page in Chromium', () => {
  let seeded: SeededServer;
  let server: ServerProcess;
  let fake: FakeTwilio;
  let browser: Browser;
  let page: Page;
  let problems: Problems;
  // Console lines a test provokes on purpose (a 4xx the page shows); anything else fails the test.
  let expectedProblems: RegExp[] = [];
  const callback = (o: Record<string, string>) => seeded.callback(o);

  const rows = () => page.locator('#sessions-body tr');
  const rowKeys = () => rows().evaluateAll((trs) => trs.map((tr) => `${(tr as HTMLElement).dataset.callSid}/${(tr as HTMLElement).dataset.name}`));
  const row = (callSid: string, name: string) => page.locator(`#sessions-body tr[data-call-sid="${callSid}"][data-name="${name}"]`);
  const waitForRows = (n: number) => page.waitForFunction((count) => document.querySelectorAll('#sessions-body tr').length === count, n);
  const text = (selector: string) => page.locator(selector).innerText();
  const shot = (name: string, fullPage = true) => page.screenshot({ path: path.join(ARTIFACTS, `status-page-${name}.png`), fullPage });
  const detail = () => page.locator('#detail');
  /** Resolves once a refresh that started after this call has rendered ("Updated" carries its instant). */
  async function nextRefresh(): Promise<void> {
    const before = await page.locator('#updated time').getAttribute('datetime');
    await page.waitForFunction((prev) => {
      const t = document.querySelector('#updated time')?.getAttribute('datetime');
      return Boolean(t) && t !== prev;
    }, before);
  }
  async function confirmStop(callSid: string, name: string, screenshot?: string): Promise<string> {
    await row(callSid, name).locator('[data-action="stop"]').click();
    await page.click('#confirm-ok');
    await page.locator('#confirm-outcome:is([data-kind="success"], [data-kind="error"])').waitFor();
    const outcome = await text('#confirm-outcome');
    if (screenshot) await shot(screenshot, false);
    await page.click('#confirm-cancel');
    return outcome;
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    seeded = await startSeededServer();
    ({ server, fake } = seeded);
    browser = await launchChromium();
    ({ page, problems } = await signedInPage(browser, { viewport: { width: 1400, height: 900 } }));
    // ?refresh=1: a refresh every second keeps the test quick (the default is 5 s).
    await page.goto(`${server.url}/?refresh=1`);
    await waitForRows(NEWEST_FIRST.length);
  }, 60_000);

  // The tests share one page: whatever a failed test left open or changed must not block the next.
  afterEach(async () => {
    await closeDialogs(page);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.emulateMedia({ colorScheme: 'light' });
    const unexpected = problems.take(expectedProblems);
    expectedProblems = [];
    expect(unexpected).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await seeded?.close();
  });

  it("serves files with no-cache and an ETag (a reload costs a 304), under helmet's default CSP", async () => {
    const auth = { authorization: `Basic ${Buffer.from(`ops:${TEST_ADMIN_TOKEN}`).toString('base64')}` };
    const first = await fetch(`${server.url}/app.js`, { headers: auth });
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    expect(first.headers.get('content-type')).toMatch(/javascript/);
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    // node:http, not fetch: fetch adds `Cache-Control: no-cache` to a conditional request, which forbids a 304.
    const again = await new Promise<number | undefined>((resolve, reject) =>
      http.get(`${server.url}/app.js`, { headers: { ...auth, 'if-none-match': etag! } }, (res) => resolve(res.resume().statusCode)).on('error', reject),
    );
    expect(again).toBe(304);
    const index = await fetch(`${server.url}/`, { headers: auth });
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("script-src-attr 'none'");
  });

  it('shows health at a glance: active now, started and failed in the last hour, the latest error, the database', async () => {
    expect(await text('#stat-active')).toBe('2');
    expect(await text('#stat-started')).toBe('4');
    expect(await text('#stat-failed')).toBe('1');
    expect(await text('#stat-error')).toContain('64101');
    expect(await text('#stat-error')).toContain(live.callSid);
    expect(await text('#stat-db')).toBe('Ready');
    expect(await text('#updated')).toMatch(/^Updated \S+/);
  });

  it('lists every session newest first, with its state in words and an error row showing its code', async () => {
    expect(await rowKeys()).toEqual(NEWEST_FIRST);
    const failed = await row(live.callSid, 'compliance').innerText();
    expect(failed).toContain('Failed');
    expect(failed).toContain('64101');
    expect(failed).toContain('SIP connection to the recording server failed');
    const active = await row(live.callSid, 'gridspace').innerText();
    expect(active).toMatch(/\+14155550100[\s\S]*\+15550001111[\s\S]*gridspace[\s\S]*Gridspace_1[\s\S]*both_tracks[\s\S]*Active/);
    expect(await row(done.callSid, 'Gridspace_1').innerText()).toMatch(/Stopped[\s\S]*4 min 00 s/);
  });

  it('renders markup in a caller ID, a SiprecName and a payload as text, and runs none of it', async () => {
    const hostileRow = rows().first();
    expect(await hostileRow.getAttribute('data-call-sid')).toBe(hostile.callSid);
    expect((await hostileRow.innerText()).split(XSS).length - 1).toBe(2); // From and name
    await hostileRow.click();
    await detail().locator('details.raw summary').first().click();
    expect(await detail().locator('pre.payload').first().innerText()).toContain(`"Comment": ${JSON.stringify(XSS)}`);
    expect(await detail().locator('.session-card h4').allInnerTexts()).toContain(XSS);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    await page.keyboard.press('Escape');
    await detail().waitFor({ state: 'hidden' });
  });

  it('filters by state, connector and Call SID, and keeps the filter across refreshes', async () => {
    await page.selectOption('#filter-state', 'failed');
    await waitForRows(1);
    await nextRefresh();
    expect(await rowKeys()).toEqual([`${live.callSid}/compliance`]);
    expect(new URL(page.url()).searchParams.get('state')).toBe('failed');

    await page.click('#filter-clear');
    await waitForRows(NEWEST_FIRST.length);
    await page.fill('#filter-connector', 'Gridspace_1');
    await page.press('#filter-connector', 'Enter');
    await waitForRows(3);
    expect(await rowKeys()).toEqual([`${hostile.callSid}/Gridspace_1`, `${live.callSid}/gridspace`, `${done.callSid}/Gridspace_1`]);

    await page.click('#filter-clear');
    await waitForRows(NEWEST_FIRST.length);
    // A pasted upper-case SID is accepted: Twilio's are lower-case hex.
    await page.fill('#filter-call', `CA${done.callSid.slice(2).toUpperCase()}`);
    await page.press('#filter-call', 'Enter');
    await waitForRows(1);
    expect(await rowKeys()).toEqual([`${done.callSid}/Gridspace_1`]);
    await page.fill('#filter-call', 'CA123');
    await page.press('#filter-call', 'Enter');
    expect(await text('#filter-call-hint')).toContain('CA followed by 32 hex digits');

    await page.click('#filter-clear');
    await waitForRows(NEWEST_FIRST.length);
    expect(await page.locator('#filter-call-hint').isVisible()).toBe(false);
  });

  it('pages to older sessions with the API cursor, and back', async () => {
    await page.goto(`${server.url}/?refresh=1&limit=2`);
    try {
      const onPage = async (n: number) => {
        await page.waitForFunction((label) => document.getElementById('page-label')?.textContent === label && !document.getElementById('page-older')?.closest('nav')?.hidden, `Page ${n}`);
        return rowKeys();
      };
      expect(await onPage(1)).toEqual(NEWEST_FIRST.slice(0, 2));
      await page.click('#page-older');
      expect(await onPage(2)).toEqual(NEWEST_FIRST.slice(2, 4));
      await page.click('#page-older');
      expect(await onPage(3)).toEqual(NEWEST_FIRST.slice(4));
      expect(await page.locator('#page-older').isDisabled()).toBe(true);
      await page.click('#page-newer');
      expect(await onPage(2)).toEqual(NEWEST_FIRST.slice(2, 4));
    } finally {
      await page.goto(`${server.url}/?refresh=1`);
      await waitForRows(NEWEST_FIRST.length);
    }
  });

  it("opens a call from the keyboard; its timeline follows Twilio's timestamps; raw payloads on demand", async () => {
    await row(done.callSid, 'Gridspace_1').locator('.call-link').focus();
    await page.keyboard.press('Enter');
    await detail().locator('.session-card').first().waitFor();
    expect(await text('#detail-title')).toBe(done.callSid);
    expect(await detail().locator('.event-name').allInnerTexts()).toEqual(['siprec-started', 'siprec-stopped']);
    const payload = detail().locator('pre.payload').first();
    expect(await payload.textContent()).toBe('');
    await detail().locator('details.raw summary').first().click();
    expect(JSON.parse((await payload.textContent()) ?? '')).toMatchObject({ CallSid: done.callSid, SiprecSid: done.sid, SiprecEvent: 'siprec-started' });
    expect(new URL(page.url()).hash).toBe(`#call=${done.callSid}`);
    await page.keyboard.press('Escape');
    await detail().waitFor({ state: 'hidden' });
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.callSid)).toBe(done.callSid);
  });

  it('asks before stopping; Cancel sends nothing to Twilio', async () => {
    const before = fake.requests.length;
    await row(live.callSid, 'gridspace').locator('[data-action="stop"]').click();
    expect(await page.locator('#confirm-stop').isVisible()).toBe(true);
    expect(await text('#confirm-text')).toContain(`gridspace (connector Gridspace_1) on call ${live.callSid}`);
    await page.click('#confirm-cancel');
    await page.locator('#confirm-stop').waitFor({ state: 'hidden' });
    expect(fake.requests.length).toBe(before);
  });

  it('stops an active session through Twilio with Status=stopped, and the row follows it to Stopped', async () => {
    expect(await confirmStop(live.callSid, 'gridspace')).toContain('Twilio accepted the stop');
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: `/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Calls/${live.callSid}/Siprec/gridspace.json`,
      form: { Status: 'stopped' },
    });
    const gridspace = row(live.callSid, 'gridspace');
    await gridspace.filter({ hasText: 'stop requested' }).waitFor();
    expect(await gridspace.locator('[data-action="stop"]').count()).toBe(0);

    await callback({ CallSid: live.callSid, SiprecSid: live.gridspace, SiprecName: 'gridspace', SiprecEvent: 'siprec-stopped' });
    await gridspace.filter({ hasText: 'Stopped' }).waitFor();
    await page.waitForFunction(() => document.getElementById('stat-active')?.textContent === '1');
  });

  it("shows Twilio's error when the call has already ended, and leaves the session as it was", async () => {
    const stopUrl = `/api/calls/${hostile.callSid}/siprec/Gridspace_1/stop`;
    expectedProblems = [new RegExp(`status of 404 .*${stopUrl}`)];
    const outcome = await confirmStop(hostile.callSid, 'Gridspace_1', 'stop-refused');
    expect(outcome).toContain('Could not stop: Twilio does not know');
    expect(outcome).toMatch(/Twilio error 20404 \(HTTP 404\): The requested resource .* was not found/);
    expect(fake.requests.at(-1)?.path).toBe(`/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Calls/${hostile.callSid}/Siprec/Gridspace_1.json`);
    await nextRefresh();
    expect(await row(hostile.callSid, 'Gridspace_1').innerText()).toMatch(/Requested[\s\S]*Stop/);
  });

  it('starts SIPREC on a live call from its detail, with connector, name, track and parameters', async () => {
    await row(live.callSid, 'compliance').click();
    const form = page.locator('#start-form');
    await form.locator('[name="connectorName"]').fill('Gridspace_1');
    await form.locator('[name="name"]').fill('second');
    await form.locator('[name="track"]').selectOption('both_tracks');
    await page.click('#param-add');
    await form.locator('[name="paramName"]').fill('Team');
    await form.locator('[name="paramValue"]').fill('support');
    await form.locator('[type="submit"]').click();
    await page.locator('#start-outcome[data-kind="success"]').waitFor();
    const start = fake.requests.find((r) => r.path === `/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Calls/${live.callSid}/Siprec.json`);
    expect(start?.form).toMatchObject({ ConnectorName: 'Gridspace_1', Name: 'second', Track: 'both_tracks', 'Parameter1.Name': 'Team', 'Parameter1.Value': 'support' });
    await detail().locator('.session-card[data-name="second"]').filter({ hasText: 'Requested' }).waitFor();
    // The drawer is as tall as the viewport and scrolls on its own: shoot the viewport, from the top.
    await page.locator('#detail .drawer-body').evaluate((el) => el.scrollTo(0, 0));
    await shot('detail-desktop', false);
    await page.setViewportSize({ width: 390, height: 844 });
    await shot('detail-phone', false);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.keyboard.press('Escape');
    await detail().waitFor({ state: 'hidden' });
  });

  it('pauses the refresh while the tab is hidden and refreshes as soon as it is shown again', async () => {
    const setVisibility = (state: string) =>
      page.evaluate((s) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
        document.dispatchEvent(new Event('visibilitychange'));
      }, state);
    await setVisibility('hidden');
    await page.waitForTimeout(300); // lets a refresh already in flight land
    const polled: string[] = [];
    page.on('request', (r) => void (r.url().includes('/api/') && polled.push(r.url())));
    await page.waitForTimeout(2500);
    expect(polled).toEqual([]);
    expect(await text('#updated')).toMatch(/^Paused while the tab is hidden/);
    await setVisibility('visible');
    await nextRefresh();
    expect(polled.length).toBeGreaterThan(0);
  });

  it('fits a phone-width screen without sideways scrolling, in light and dark (screenshots in test-artifacts/)', async () => {
    await shot('desktop-light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot('desktop-dark');
    await page.setViewportSize({ width: 390, height: 844 });
    await nextRefresh();
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    // The refresh redraws the rows in place: a reader halfway down the list stays there.
    await page.evaluate(() => window.scrollTo(0, 900));
    await nextRefresh();
    expect(await page.evaluate(() => window.scrollY)).toBe(900);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('phone-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await shot('phone-light');
  });
});
