import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createTestApp, TestApp, TestDatabase } from './support/harness';
import { HistoryCollector } from '../src/history/collector.service';

/**
 * Swagger UI at /docs in a real headless Chromium (Debian's `chromium`; .ci/run installs it): authorize with a
 * token, then for every operation expand it, "Try it out", "Execute", and see a 200 with data. Nothing is
 * downloaded: without a Chromium on the machine the test is skipped, saying so.
 */
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p): p is string => !!p && fs.existsSync(p),
);
const ARTIFACTS = path.join(__dirname, 'artifacts');
const TOKEN = 'browser-token';

if (!CHROMIUM) {
  console.warn('Swagger UI browser test skipped: no Chromium at /usr/bin/chromium (apt-get install chromium)');
}
(CHROMIUM ? describe : describe.skip)('Swagger UI in a real browser', () => {
  let db: TestDatabase;
  let store: TestDatabase;
  let api: TestApp;
  let browser: Browser;
  let queryId = '';
  let baseUrl: string;

  beforeAll(async () => {
    db = await TestDatabase.create();
    store = await TestDatabase.create({ extensions: [] });
    api = await createTestApp(db.monitorUrl, { API_TOKENS: TOKEN, HISTORY: 'on', HISTORY_DATABASE_URL: store.url });
    // A snapshot in the store: the history operations have something to show, and a real queryid to ask about.
    await api.app.get(HistoryCollector).now!.collectNow('default');
    queryId = (await store.admin<{ q: string }[]>`select queryid::text as q from statement_texts limit 1`)[0].q;
    await api.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(api.app.getHttpServer().address() as { port: number }).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await db?.drop();
    await store?.drop();
  });

  it('authorizes with a token and executes every operation with a 200 and data', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${baseUrl}/docs`);
    await page.locator('.opblock').first().waitFor();

    await page.locator('.auth-wrapper button.authorize').click();
    await page.locator('.modal-ux input[type=text], .modal-ux input[type=password]').first().fill(TOKEN);
    await page.locator('.modal-ux button.modal-btn.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();

    const operations = page.locator('.opblock');
    const count = await operations.count();
    expect(count).toBe(21);
    const results: [string, string, number][] = [];
    for (let i = 0; i < count; i++) {
      const op = operations.nth(i);
      const route = (await op.locator('.opblock-summary-path').innerText()).trim();
      await op.locator('.opblock-summary').click();
      await op.getByRole('button', { name: 'Try it out' }).click();
      // The documented example queryid is someone else's: this instance's store has its own.
      const path = op.locator('input[placeholder^="queryId"]');
      if ((await path.count()) > 0) await path.fill(queryId);
      await op.getByRole('button', { name: 'Execute' }).click();
      const status = op.locator('.live-responses-table .response .response-col_status').first();
      await status.waitFor({ timeout: 15_000 });
      const body = await op.locator('.live-responses-table .response-col_description pre').first().innerText();
      results.push([route, (await status.innerText()).trim(), body.length]);
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'swagger-ui.png'), fullPage: true });

    for (const [route, status, length] of results) {
      expect([route, status]).toEqual([route, '200']);
      expect(length).toBeGreaterThan(10);
    }
    // A CSP that blocked Swagger UI's scripts or styles would show here.
    expect(problems).toEqual([]);
    // Twenty operations rendered and executed one after another in a real browser on two cores.
  }, 180_000);
});
