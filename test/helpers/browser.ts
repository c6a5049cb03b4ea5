import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { TEST_ADMIN_TOKEN } from './env';

/** Debian's Chromium: playwright cannot download its own browsers on these machines. */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_INSTALL = 'apt-get update && apt-get install -y chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export type ChromiumPlan = { run: true } | { run: false; mustFail: boolean; message: string };

/** Whether browser tests can run here; without Chromium, CI must fail and a workstation must say it skipped. */
export function chromiumPlan(executable = CHROMIUM_PATH, ci = process.env.CI === 'true'): ChromiumPlan {
  if (existsSync(executable)) return { run: true };
  return {
    run: false,
    mustFail: ci,
    message: `Chromium is not installed at ${executable}; install it with: ${CHROMIUM_INSTALL}`,
  };
}

/**
 * `describe(name, body)` when Chromium is installed. Without it, one test stands in for the suite:
 * in CI it fails with the install command; elsewhere it prints that the suite was skipped and
 * passes only while Chromium really is missing, so a broken path can never pass quietly.
 * (jest has no runtime skip, and `.skip`/`.todo` would hide the reason from the run's output.)
 */
export function describeInChromium(name: string, body: () => void): void {
  const plan = chromiumPlan();
  if (plan.run) return describe(name, body);
  describe(name, () => {
    it(`SKIPPED, ${plan.message}`, () => {
      if (plan.mustFail) throw new Error(`CI=true and ${plan.message}`);
      console.warn(`SKIPPED "${name}": ${plan.message}`);
      expect(existsSync(CHROMIUM_PATH)).toBe(false);
    });
  });
}

/**
 * Launches Chromium headless. playwright's launch() gives each browser a fresh temporary profile
 * (user-data-dir) and deletes it on close, so no state leaks between runs.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Collects what a clean page never produces: console errors and warnings, uncaught exceptions, and
 * Content-Security-Policy violations (reported through the console by an init script).
 */
export async function watchForProblems(context: BrowserContext, page: Page): Promise<{ take(allowed?: RegExp[]): string[] }> {
  await context.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`)),
  );
  let seen: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') seen.push(`console.${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (err) => seen.push(`pageerror: ${err.message}`));
  return {
    /** Returns and forgets what was seen, except lines an `allowed` pattern matches. */
    take(allowed = []) {
      const out = seen.filter((line) => !allowed.some((re) => re.test(line)));
      seen = [];
      return out;
    },
  };
}

export type Problems = Awaited<ReturnType<typeof watchForProblems>>;

/**
 * A page signed in as the operator (the browser answers the Basic prompt), with playwright's waits
 * well inside jest's 30 s, so a missing element fails with playwright's message, not a timeout.
 */
export async function signedInPage(browser: Browser, options: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page; problems: Problems }> {
  const context = await browser.newContext({ httpCredentials: { username: 'ops', password: TEST_ADMIN_TOKEN }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = await watchForProblems(context, page);
  return { context, page, problems };
}

/** Closes every open dialog: what a failed test left open must not intercept the next test's clicks. */
export function closeDialogs(page: Page): Promise<void> {
  return page.evaluate(() => document.querySelectorAll('dialog[open]').forEach((d) => (d as HTMLDialogElement).close()));
}
