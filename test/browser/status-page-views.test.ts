import type { Browser, BrowserContext, Page } from 'playwright-core';
import { closeDialogs, describeInChromium, launchChromium, type Problems, signedInPage } from '../helpers/browser';
import { done, hostile, live, NEWEST_FIRST, startSeededServer, type SeededServer } from './status-page.fixture';

// Issue 15 §5: the views operators asked for. The browser runs in New York time, so that local
// times and UTC differ and the zone shown can be checked.
const ZONE = 'America/New_York';

async function openPage(browser: Browser, url: string): Promise<{ context: BrowserContext; page: Page; problems: Problems }> {
  const { context, page, problems } = await signedInPage(browser, { viewport: { width: 1400, height: 900 }, timezoneId: ZONE });
  await page.goto(url);
  return { context, page, problems };
}

describeInChromium('the status page’s operator views', () => {
  let seeded: SeededServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: Problems;
  let expectedProblems: RegExp[] = [];
  const BASE = () => `${seeded.server.url}/?refresh=1`;

  const rowKeys = () => page.locator('#sessions-body tr').evaluateAll((trs) => trs.map((tr) => `${(tr as HTMLElement).dataset.callSid}/${(tr as HTMLElement).dataset.name}`));
  const waitForRows = (n: number) => page.waitForFunction((count) => document.querySelectorAll('#sessions-body tr').length === count, n);
  const search = () => new URL(page.url()).searchParams;

  beforeAll(async () => {
    // A one-second start timeout: the seeded session that never started is stuck at once.
    seeded = await startSeededServer({ ALERT_START_TIMEOUT_SECONDS: '1' });
    browser = await launchChromium();
    ({ context, page, problems } = await openPage(browser, BASE()));
    await waitForRows(NEWEST_FIRST.length);
  }, 60_000);

  afterEach(async () => {
    await closeDialogs(page);
    const unexpected = problems.take(expectedProblems);
    expectedProblems = [];
    expect(unexpected).toEqual([]);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await seeded?.close();
  });

  describe('search', () => {
    afterEach(async () => {
      await page.click('#filter-clear');
      await page.waitForFunction(() => !/(phone|since|until|state)=/.test(location.search) && document.getElementById('sessions-table')?.getAttribute('aria-busy') !== 'true');
      await waitForRows(NEWEST_FIRST.length);
    });

    it('finds the calls from or to a phone number, written any common way, and counts them', async () => {
      await page.fill('#filter-phone', '+1 415-555-0100');
      await page.press('#filter-phone', 'Enter');
      await waitForRows(2);
      expect(await rowKeys()).toEqual([`${live.callSid}/compliance`, `${live.callSid}/gridspace`]);
      expect((await page.locator('#sessions-total').innerText()).trim()).toBe('2 sessions ·');
      expect(search().get('phone')).toBe('+1 415-555-0100');

      await page.fill('#filter-phone', '+15559990000');
      await page.press('#filter-phone', 'Enter');
      await waitForRows(3);
      expect(new Set((await rowKeys()).map((k) => k.split('/')[0]))).toEqual(new Set([done.callSid, hostile.callSid]));
    });

    it('reads a date and time range in the zone shown, and keeps it in the URL as an instant', async () => {
      // 07:00 in New York on 1 March 2025 (EST, UTC−5) is 12:00 UTC.
      await page.fill('#filter-since', '2025-03-01T07:00');
      await page.press('#filter-since', 'Enter');
      await page.waitForFunction(() => new URLSearchParams(location.search).get('since') === '2025-03-01T12:00:00.000Z');
      await waitForRows(NEWEST_FIRST.length);

      await page.fill('#filter-since', '2099-01-01T00:00');
      await page.press('#filter-since', 'Enter');
      await page.locator('#sessions-status[data-kind="no-match"]').waitFor();
      expect((await page.locator('#sessions-total').innerText()).trim()).toBe('0 sessions ·');

      await page.fill('#filter-until', '2098-01-01T00:00');
      await page.press('#filter-until', 'Enter');
      expect(await page.locator('#filter-range-hint').innerText()).toBe('"Until" must be after "Since".');
    });

    it('counts the sessions each filter matches', async () => {
      expect((await page.locator('#sessions-total').innerText()).trim()).toBe(`${NEWEST_FIRST.length} sessions ·`);
      await page.selectOption('#filter-state', 'failed');
      await waitForRows(1);
      await page.waitForFunction(() => document.getElementById('sessions-total')?.textContent === '1 session · ');
    });
  });

  it('shows every time with its zone, and switches to UTC with a toggle kept in the URL', async () => {
    const started = page.locator(`#sessions-body tr[data-call-sid="${done.callSid}"] td[data-label="Started"] time`);
    expect(await started.innerText()).toMatch(/ E[SD]T$/);
    expect(await page.locator('#updated time').innerText()).toMatch(/ E[SD]T$/);
    await page.click('#tz-toggle');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('tz') === 'utc');
    await started.filter({ hasText: / UTC$/ }).waitFor();
    expect(await page.locator('#tz-toggle').getAttribute('aria-pressed')).toBe('true');
    // The same instant: Intl moved it between zones, the page did no arithmetic of its own.
    const [local, utc] = await started.evaluate((el) => {
      const at = new Date(el.getAttribute('datetime')!);
      const clock = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' } as const;
      return [at.toLocaleTimeString('en-US', { ...clock, timeZone: 'America/New_York' }), at.toLocaleTimeString('en-US', { ...clock, timeZone: 'UTC' })];
    });
    expect(local).not.toBe(utc);
    expect(await started.innerText()).toContain(`${utc} UTC`);

    await page.reload();
    await waitForRows(NEWEST_FIRST.length);
    expect(await started.innerText()).toMatch(/ UTC$/);
    await page.click('#tz-toggle');
    await started.filter({ hasText: / E[SD]T$/ }).waitFor();
    expect(search().has('tz')).toBe(false);
  });

  it('has a tile for sessions stuck in requested, linking to the oldest', async () => {
    const tile = page.locator('#stat-stuck');
    await tile.locator('.tile-value', { hasText: '1' }).waitFor();
    expect(await tile.innerText()).toMatch(/requested over 1 s ago/);
    await tile.getByRole('link', { name: 'Gridspace_1' }).click();
    await page.locator('#detail .session-card').first().waitFor();
    expect(await page.locator('#detail-title').innerText()).toBe(hostile.callSid);
    await page.keyboard.press('Escape');
    await page.locator('#detail').waitFor({ state: 'hidden' });
    expect(await page.evaluate(() => document.activeElement?.closest('#stat-stuck') !== null)).toBe(true);
  });

  it('links the latest error to its call, and the call to Twilio’s Console without asking Twilio anything', async () => {
    const outside: string[] = [];
    const onRequest = (r: { url(): string }) => void (!r.url().startsWith(seeded.server.url) && !r.url().startsWith('data:') && outside.push(r.url()));
    page.on('request', onRequest);
    try {
      await page.locator('#stat-error').getByRole('link', { name: live.callSid }).click();
      await page.locator('#detail .session-card').first().waitFor();
      expect(await page.locator('#detail-title').innerText()).toBe(live.callSid);
      const link = page.locator('#detail-console');
      expect(await link.getAttribute('href')).toBe(`https://console.twilio.com/us1/monitor/logs/calls?frameUrl=%2Fconsole%2Fvoice%2Fcalls%2Flogs%2F${live.callSid}`);
      expect(await link.getAttribute('target')).toBe('_blank');
      expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
      await page.keyboard.press('Escape');
    } finally {
      page.off('request', onRequest);
    }
    expect(outside).toEqual([]);
  });

  it('summarises each connector: open sessions, failures in the last hour, its last error', async () => {
    const connector = (name: string) => page.locator('#connectors-body tr', { has: page.locator(`th:text-is("${name}")`) });
    await connector('Compliance_SRS').waitFor();
    expect(await connector('Compliance_SRS').locator('td').allInnerTexts()).toEqual(['0', '1', expect.stringContaining('64101')]);
    // live's gridspace is active and hostile's Gridspace_1 is requested.
    expect(await connector('Gridspace_1').locator('td').first().innerText()).toBe('2');
  });

  it('marks an event whose Twilio Timestamp is over a day from its arrival', async () => {
    // An event Twilio may add later: stored, state unchanged, shown in the timeline.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await seeded.callback({ CallSid: done.callSid, SiprecSid: done.sid, SiprecName: 'Gridspace_1', SiprecEvent: 'siprec-updated', Timestamp: twoDaysAgo });
    await page.locator(`#sessions-body tr[data-call-sid="${done.callSid}"] td:nth-child(3)`).click();
    const event = page.locator('#detail .event', { hasText: 'siprec-updated' });
    await event.waitFor();
    expect(await event.locator('.event-skew').innerText()).toMatch(/^Twilio's Timestamp differs from when this callback arrived by 4[78] h/);
    expect(await page.locator('#detail .event', { hasText: 'siprec-started' }).locator('.event-skew').count()).toBe(0);
    await page.keyboard.press('Escape');
  });

  describe('with STORE_CALLER_NUMBERS=none', () => {
    let other: SeededServer;
    let view: Awaited<ReturnType<typeof openPage>>;
    beforeAll(async () => {
      other = await startSeededServer({ STORE_CALLER_NUMBERS: 'none' });
      view = await openPage(browser, `${other.server.url}/?refresh=1`);
    }, 60_000);
    afterAll(async () => {
      await view?.context.close();
      await other?.close();
    });

    it('says a search by number is unavailable instead of offering one that finds nothing', async () => {
      await view.page.waitForFunction(() => (document.getElementById('filter-phone') as HTMLInputElement).disabled);
      expect(await view.page.locator('#filter-phone-hint').innerText()).toMatch(/^Unavailable: this server stores no phone numbers/);
      expect(view.problems.take()).toEqual([]);
    });
  });
});
