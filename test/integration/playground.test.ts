/** GET /playground in real headless Chromium, running a program through the streaming API and the real engine. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser, watchedPage } from '../support/browser';
import { instanceContainers, startServer } from '../support/engine';

const KEY = 'playground-test-key'.padEnd(32, 'x');
/** Screenshots for a person to look at; not committed. */
const SCREENSHOTS = join(__dirname, '../../test-results');

const PROGRAM = [
  'import time, matplotlib.pyplot as plt',
  'print("first line", flush=True)',
  'time.sleep(2)',
  'plt.plot([1, 4, 9, 16]); plt.title("squares"); plt.savefig("output/chart.png")',
  'open("output/numbers.csv", "w").write("n,square\\n2,4\\n")',
  'print("last line")',
].join('\n');

describe('the playground', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_API_KEY: KEY });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server.close(30_000);
    expect(await instanceContainers(server.config.instanceId)).toEqual([]);
  });

  it('runs a typed program with live output, shows its chart, and works offline from this server alone', async () => {
    const { page, elsewhere, problems } = await watchedPage(browser, new URL(server.url).origin);
    await page.goto(`${server.url}/playground`);
    await page.locator('#editor .ace_content').waitFor();
    await page.getByText('this server needs an API key').waitFor();

    // Without the key the server refuses, and the page says so.
    await page.click('#run');
    await page.locator('#status[data-state="failed"]').waitFor();
    expect(await page.locator('#status').innerText()).toMatch(/401 unauthorized/);

    await page.fill('#key', KEY);
    await page.click('#editor');
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(PROGRAM);
    await page.click('#run');

    // The first line is on the page while the program still sleeps.
    await page.locator('#output', { hasText: 'first line' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#status').getAttribute('data-state')).toBe('running');
    expect(await page.locator('#output').innerText()).not.toContain('last line');

    await page.locator('#status[data-state="ok"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('#status').innerText()).toMatch(/^Finished: exit code 0, \d+ ms/);
    expect(await page.locator('#output').innerText()).toBe('first line\nlast line\n');

    const chart = page.locator('#artifacts img[alt="chart.png"]');
    await chart.waitFor();
    expect(await chart.evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 100)).toBe(true);
    const download = page.locator('#artifacts a', { hasText: 'numbers.csv' });
    expect(await download.getAttribute('download')).toBe('numbers.csv');
    expect(await page.locator('#artifacts img').count()).toBe(1);

    // The key stays in the tab's session storage only.
    expect(await page.evaluate('[sessionStorage.getItem("runbox-key"), localStorage.length]')).toEqual([KEY, 0]);

    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'playground.png'), fullPage: true });
    expect(elsewhere).toEqual([]);
    expect(problems.filter((p) => !/401/.test(p))).toEqual([]);
  });

  it('shows stderr apart from stdout, and what the program printed only as text', async () => {
    const { page } = await watchedPage(browser, new URL(server.url).origin);
    await page.goto(`${server.url}/playground`);
    await page.locator('#editor .ace_content').waitFor();
    await page.fill('#key', KEY);
    const code = 'import sys\nprint("<img src=x onerror=alert(1)>")\nprint("oops", file=sys.stderr)\nsys.exit(2)';
    await page.evaluate(`window.playgroundEditor.setValue(${JSON.stringify(code)})`);
    await page.click('#run');
    await page.locator('#status[data-state="error"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('#status').innerText()).toMatch(/^Failed: exit code 2/);
    expect(await page.locator('#output .stderr').innerText()).toBe('oops\n');
    expect(await page.locator('#output').innerText()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('#output img').count()).toBe(0);
  });
});
