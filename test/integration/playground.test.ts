/** GET /playground in real headless Chromium, running a program through the streaming API and the real engine. */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { KEYS_NOW_REQUIRED, makeKey } from '../../src/keys/api-keys';
import { NO_LIMITS } from '../../src/store/store';
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

/**
 * Three artifacts of a few MB each (all under the default artifact caps): noise as a PNG (it does not compress),
 * random bytes, and an SVG, which comes as text. Prints each file's size and SHA-256 to check the downloads by.
 */
const LARGE_ARTIFACTS = [
  'import hashlib, os, numpy as np, matplotlib.pyplot as plt',
  'plt.imsave("output/noise.png", np.random.default_rng(1).random((800, 800, 3)))',
  'open("output/random.bin", "wb").write(os.urandom(3_000_000))',
  'rects = "".join(f\'<rect x="{i % 400}" y="{i % 300}" width="2" height="2"/>\' for i in range(70_000))',
  'open("output/dots.svg", "w").write(f\'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">{rects}</svg>\')',
  'for name in sorted(os.listdir("output")):',
  '    data = open("output/" + name, "rb").read()',
  '    print(name, len(data), hashlib.sha256(data).hexdigest())',
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

  it('says why a keyless server refuses once a key was added to its store, and what to do', async () => {
    const keyless = await startServer({ RUNBOX_POOL_SIZE: '0' });
    try {
      const { page } = await watchedPage(browser, new URL(keyless.url).origin);
      await page.goto(`${keyless.url}/playground`);
      await page.locator('#editor .ace_content').waitFor();
      // The user was running code without a key...
      await page.click('#run');
      await page.locator('#status[data-state="ok"]').waitFor({ timeout: 30_000 });
      // ...until a key was added to the store.
      const { record } = makeKey({ name: 'first', env: 'test', limits: NO_LIMITS });
      await keyless.store.addKey(record);
      await page.click('#run');
      await page.locator('#status[data-state="failed"]').waitFor();
      expect(await page.locator('#status').innerText()).toBe(`Refused (401 unauthorized): ${KEYS_NOW_REQUIRED}`);
    } finally {
      await keyless.close(30_000);
    }
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

  it('shows artifacts of several MB and offers them as blob: downloads, revoked when the next run replaces them', async () => {
    const { page, elsewhere, problems } = await watchedPage(browser, new URL(server.url).origin);
    await page.goto(`${server.url}/playground`);
    await page.locator('#editor .ace_content').waitFor();
    await page.fill('#key', KEY);
    await page.fill('#timeout', '60');
    await page.evaluate(`window.playgroundEditor.setValue(${JSON.stringify(LARGE_ARTIFACTS)})`);
    await page.click('#run');
    // Any end, not just success: a page that fails on the artifacts says why in the status line.
    await page.locator('#status:not([data-state="queued"]):not([data-state="running"])').waitFor({ timeout: 60_000 });
    expect(await page.locator('#status').innerText()).toMatch(/^Finished: exit code 0/);
    expect(problems).toEqual([]);

    const printed = (await page.locator('#output').innerText()).trim().split('\n');
    const expected = Object.fromEntries(
      printed.map((line) => {
        const [name, size, sha256] = line.split(' ');
        return [name, { size: Number(size), sha256 }];
      }),
    );
    expect(Object.keys(expected)).toEqual(['dots.svg', 'noise.png', 'random.bin']);
    for (const { size } of Object.values(expected)) expect(size).toBeGreaterThan(2_000_000);

    for (const name of ['noise.png', 'dots.svg']) {
      const img = page.locator(`#artifacts img[alt="${name}"]`);
      // decode() settles once the image is loaded, and fails if the browser could not show it.
      const width = await img.evaluate((el: { decode(): Promise<void>; naturalWidth: number }) => el.decode().then(() => el.naturalWidth));
      expect(width).toBe(name === 'noise.png' ? 800 : 400);
    }
    expect(await page.locator('#artifacts img').count()).toBe(2);

    // Each link downloads exactly the file's bytes.
    const links = page.locator('#artifacts a');
    const downloads: Record<string, { size: number; sha256: string }> = {};
    for (let i = 0; i < (await links.count()); i++) {
      expect(await links.nth(i).getAttribute('href')).toMatch(/^blob:/);
      const [download] = await Promise.all([page.waitForEvent('download'), links.nth(i).click()]);
      const bytes = readFileSync(await download.path());
      downloads[download.suggestedFilename()] = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    }
    expect(downloads).toEqual(expected);

    // The PNG is shown from a blob: URL too; an SVG never is (opened in a tab, it would run as this origin).
    const hrefs = await links.evaluateAll((as: { href: string }[]) => as.map((a) => a.href));
    const imageUrl = (await page.locator('#artifacts img[alt="noise.png"]').getAttribute('src')) ?? '';
    expect(imageUrl).toMatch(/^blob:/);
    expect(await page.locator('#artifacts img[alt="dots.svg"]').getAttribute('src')).toMatch(/^data:image\/svg\+xml/);
    const loadImage = () =>
      page.evaluate(`(() => {
        const img = new Image();
        img.src = ${JSON.stringify(imageUrl)};
        return img.decode().then(() => 'loads', () => 'revoked');
      })()`);
    expect(await loadImage()).toBe('loads');
    expect(problems).toEqual([]);

    // The next run revokes them: a download from an old URL fails, and the old image no longer loads. (The
    // page's policy, connect-src 'self', keeps scripts from fetching blob: URLs, so both are tried as a user would.)
    await page.evaluate('window.playgroundEditor.setValue("print(\'again\')")');
    await page.click('#run');
    await page.locator('#status[data-state="ok"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('#output').innerText()).toBe('again\n');
    expect(await page.locator('#artifacts figure').count()).toBe(0);
    for (const href of hrefs) {
      const click = page.evaluate(`(() => {
        const a = document.createElement('a');
        a.href = ${JSON.stringify(href)};
        a.download = 'old';
        document.body.appendChild(a);
        a.click();
        a.remove();
      })()`);
      const [download] = await Promise.all([page.waitForEvent('download'), click]);
      expect(await download.failure()).not.toBeNull();
    }
    expect(await loadImage()).toBe('revoked');
    expect(elsewhere).toEqual([]);
    // The one error the page shows is the revoked image's, tried just above.
    expect(problems).toEqual(['Failed to load resource: net::ERR_FILE_NOT_FOUND']);
    // Two runs and several MB through the stream and the downloads: can take more than jest's minute on a busy host.
  }, 180_000);
});
