import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { closeDialogs, describeInChromium, launchChromium, type Problems, signedInPage } from '../helpers/browser';
import { ROOT } from '../helpers/server-process';
import { live, NEWEST_FIRST, startSeededServer, type SeededServer } from './status-page.fixture';

// axe-core from npm, evaluated through the DevTools protocol: the page's CSP (script-src 'self')
// would refuse it as an inline <script>, and rightly so.
const AXE = readFileSync(path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

const VIEWPORTS = [
  ['desktop', { width: 1400, height: 900 }],
  ['phone', { width: 390, height: 844 }],
] as const;
const SCHEMES = ['light', 'dark'] as const;

describeInChromium('the status page under axe-core', () => {
  let seeded: SeededServer;
  let browser: Browser;
  let page: Page;
  let problems: Problems;

  /** Serious and critical violations only, each with the elements it names. */
  async function axe(): Promise<string[]> {
    if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const w = window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: Violation[] }> } };
      return (await w.axe.run(document, { resultTypes: ['violations'] })).violations;
    });
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.map((n) => `${n.target.join(' ')} ${n.failureSummary ?? ''}`).join(' | ')}`);
  }

  beforeAll(async () => {
    seeded = await startSeededServer();
    browser = await launchChromium();
    ({ page, problems } = await signedInPage(browser));
    await page.goto(`${seeded.server.url}/?refresh=1`);
    await page.waitForFunction((n) => document.querySelectorAll('#sessions-body tr').length === n, NEWEST_FIRST.length);
  }, 60_000);

  afterEach(async () => {
    await closeDialogs(page);
    expect(problems.take()).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await seeded?.close();
  });

  describe.each(VIEWPORTS)('at %s width', (_name, viewport) => {
    describe.each(SCHEMES)('in %s mode', (scheme) => {
      beforeEach(async () => {
        await page.setViewportSize(viewport);
        await page.emulateMedia({ colorScheme: scheme });
      });

      it('the main view', async () => {
        expect(await axe()).toEqual([]);
      });

      it('the call drawer with the Start form and a parameter row', async () => {
        await page.locator(`#sessions-body tr[data-call-sid="${live.callSid}"] td:nth-child(3)`).first().click();
        await page.locator('#detail .session-card').first().waitFor();
        await page.click('#param-add');
        await page.locator('#detail details.raw summary').first().click();
        expect(await axe()).toEqual([]);
      });

      it('the stop dialog', async () => {
        await page.locator('#sessions-body [data-action="stop"]').first().click();
        await page.locator('#confirm-stop').waitFor();
        expect(await axe()).toEqual([]);
      });
    });
  });
});
