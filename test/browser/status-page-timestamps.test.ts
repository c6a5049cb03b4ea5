import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeInChromium, launchChromium, type Problems, signedInPage } from '../helpers/browser';
import { done, NEWEST_FIRST, startSeededServer, type SeededServer } from './status-page.fixture';

// Issue 13 §8: a Timestamp that names no real time is unparsable for the ledger, which times the
// event by its receipt. The page must show it the same way, not read it again with Date.parse
// (which rolls 30 February over to 2 March and would show, and order, the event there).
const IMPOSSIBLE = 'Mon, 30 Feb 2026 09:00:00 +0000';

describeInChromium('the status page with a Timestamp that names no real time', () => {
  let seeded: SeededServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: Problems;

  beforeAll(async () => {
    seeded = await startSeededServer();
    // An event Twilio may add: stored without a state change, and shown in the timeline.
    await seeded.callback({ CallSid: done.callSid, SiprecSid: done.sid, SiprecName: 'Gridspace_1', SiprecEvent: 'siprec-updated', Timestamp: IMPOSSIBLE });
    browser = await launchChromium();
    ({ context, page, problems } = await signedInPage(browser, { viewport: { width: 1400, height: 900 } }));
    await page.goto(`${seeded.server.url}/`);
    await page.waitForFunction((n) => document.querySelectorAll('#sessions-body tr').length === n, NEWEST_FIRST.length);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await seeded?.close();
  });

  it('shows it as sent, with no date read from it, and places it by when it arrived (last)', async () => {
    await page.locator(`#sessions-body tr[data-call-sid="${done.callSid}"] td:nth-child(3)`).click();
    const events = page.locator('#detail .event');
    await page.locator('#detail .event', { hasText: 'siprec-updated' }).waitFor();
    expect(await events.locator('.event-name').allInnerTexts()).toEqual(['siprec-started', 'siprec-stopped', 'siprec-updated']);
    const head = events.nth(2).locator('.event-head');
    expect(await head.locator('time').count()).toBe(0);
    expect(await head.innerText()).toContain(IMPOSSIBLE);
    expect(problems.take()).toEqual([]);
  });
});
