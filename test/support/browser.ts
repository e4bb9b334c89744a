import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium; test/global-setup.ts installs it when missing. */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium. --no-sandbox: the tests run as root, where Chromium's own sandbox refuses to start. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * A page that may load nothing but what `origin` serves: anything else is refused and recorded in
 * `elsewhere`; console errors and uncaught exceptions are recorded in `problems`.
 */
export async function watchedPage(browser: Browser, origin: string): Promise<{ page: Page; elsewhere: string[]; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const elsewhere: string[] = [];
  const problems: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));
  return { page, elsewhere, problems };
}
