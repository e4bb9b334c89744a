/** GET /docs in real headless Chromium: the API is rendered from /openapi.json, with nothing fetched from anywhere else. */
import type { Browser } from 'playwright-core';
import { launchBrowser, watchedPage } from '../support/browser';
import { startServer } from '../support/engine';

describe('the docs page', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({ RUNBOX_POOL_SIZE: '0', RUNBOX_API_KEY: 'docs-test-key'.padEnd(32, 'x') });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server.close();
  });

  it('renders the run operation and its fields, offline, from this server alone', async () => {
    const { page, elsewhere, problems } = await watchedPage(browser, new URL(server.url).origin);
    await page.goto(`${server.url}/docs`);
    const operation = page.locator('#operations-runs-createRun');
    await operation.waitFor({ timeout: 20_000 });
    expect(await page.locator('.info .title').innerText()).toContain('runbox');

    // Open the operation: its request body's schema and its responses, with every error status.
    await operation.locator('.opblock-summary').click();
    const body = operation.locator('.opblock-section-request-body');
    await body.locator('button[data-name="model"]').click();
    await body.getByText('timeout_ms').first().waitFor();
    for (const field of ['code', 'files', 'stdin', 'timeout_ms', 'memory_mb']) {
      expect(await body.getByText(field, { exact: true }).count()).toBeGreaterThan(0);
    }
    const responses = await operation.locator('.responses-table .response-col_status').allInnerTexts();
    expect(responses.map((s) => s.trim())).toEqual(expect.arrayContaining(['200', '400', '401', '413', '415', '500', '503']));

    // The 200 response's schema, down to the artifacts' fields.
    const ok = operation.locator('.response[data-code="200"]');
    await ok.locator('button[data-name="model"]').click();
    for (const field of ['status', 'exit_code', 'stdout', 'artifacts', 'mime_type', 'sha256', 'usage']) {
      await ok.getByText(field, { exact: true }).first().waitFor();
    }

    // The security schemes are offered for "Try it out".
    expect(await page.locator('.auth-wrapper button.authorize').count()).toBe(1);

    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('/redoc serves the docs too (seed 002), with each compat route under the runner it replaces', async () => {
    const { page, elsewhere, problems } = await watchedPage(browser, new URL(server.url).origin);
    await page.goto(`${server.url}/redoc`);
    await page.locator('#operations-runs-createRun').waitFor({ timeout: 20_000 });
    for (const [tag, summary] of [
      ['compat: /run (seeds 000, 003)', 'Run Python (seed 000 and 003 contract)'],
      ['compat: /api/v1/execute (seed 002)', 'Execute Python (seed 002 contract)'],
      ['compat: /execute (seed 004)', 'Execute Python with data (seed 004 contract)'],
    ]) {
      await page.locator('.opblock-tag', { hasText: tag }).first().waitFor();
      await page.getByText(summary, { exact: true }).first().waitFor();
    }
    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
  });
});
