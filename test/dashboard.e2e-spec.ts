import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { HistoryCollector } from '../src/history/collector.service';
import { API, createTestApp, flushStats, TestApp, TestDatabase, waitFor, waitUntilLockWait } from './support/harness';

/**
 * The dashboard at / in a real headless Chromium (Debian's `chromium`; .ci/run installs it), against the embedded
 * demo (`node dist/main.js` without configuration, as `npm start` runs it) and against staged situations whose
 * exact values the page must show. Screenshots of every view, light and dark, go to test/artifacts/.
 */
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p): p is string => !!p && fs.existsSync(p),
);
const MAIN = path.join(__dirname, '..', 'dist', 'main.js');
const ARTIFACTS = path.join(__dirname, 'artifacts');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const VIEWS = ['overview', 'statements', 'sessions', 'indexes', 'database', 'maintenance', 'replication'];

if (!CHROMIUM)
  console.warn('dashboard browser test skipped: no Chromium at /usr/bin/chromium (apt-get install chromium)');

/** Console errors, page errors and CSP violations of a page (recorded from before its first script runs). */
async function watch(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // Which request failed (the console only says "Failed to load resource").
  page.on(
    'response',
    (r) => r.status() >= 400 && problems.push(`response: ${r.status()} ${new URL(r.url()).pathname}`),
  );
  await page.addInitScript({
    content:
      "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))",
  });
  return { page, problems };
}

/** Every panel of the view has answered (its body rendered, or its problem shown). */
async function settled(page: Page): Promise<void> {
  await page.locator('section.panel').first().waitFor();
  // A function, not a string: the page's CSP forbids eval.
  await page.waitForFunction(
    () => (globalThis as any).document.querySelectorAll('.panel-body[aria-busy="true"]').length === 0,
  );
}

async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const result = (await page.evaluate("window.axe.run({ resultTypes: ['violations'] })")) as any;
  return (result.violations as any[])
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n: any) => n.target.join(' ')).join(', ')}`);
}

(CHROMIUM ? describe : describe.skip)('the dashboard in a real browser', () => {
  let browser: Browser;

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  describe('against the embedded demo (npm start without configuration)', () => {
    let child: ChildProcess;
    let baseUrl: string;
    let historyDir: string;

    beforeAll(async () => {
      historyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-dashboard-history-'));
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HISTORY_DIR: historyDir };
      delete env.DATABASE_URL;
      delete env.TARGETS_FILE;
      child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      baseUrl = await waitFor(async () => /Swagger UI at (http:\/\/[^/\s]+)\/docs/.exec(output)?.[1], 60_000);
    }, 90_000);

    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(historyDir, { recursive: true, force: true });
    });

    it('shows the demo’s load, slow statement, lock chain, unused and duplicate indexes within a minute', async () => {
      const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const { page, problems } = await watch(context);
      const started = performance.now();
      await page.goto(`${baseUrl}/`);
      await settled(page);
      const firstRenderMs = performance.now() - started;
      process.stdout.write(`dashboard first render (demo, overview): ${firstRenderMs.toFixed(0)} ms\n`);
      // Reloaded as a user would (or auto-refresh every 10 s) until the demo's workload shows.
      const deadline = Date.now() + 60_000;
      const seen = { load: false, slow: false };
      while (Date.now() < deadline && !(seen.load && seen.slow)) {
        await page.goto(`${baseUrl}/?range=15m`);
        await settled(page);
        seen.load = (await page.locator('#panel-load figure.chart').count()) > 0;
        seen.slow = (await page.locator('#panel-statements', { hasText: 'pg_sleep' }).count()) > 0;
        if (!(seen.load && seen.slow)) await page.waitForTimeout(3000);
      }
      expect(seen).toEqual({ load: true, slow: true });
      // A moment picked on the load chart: the statements below are that bucket's, and the URL says so.
      const box = (await page.locator('#panel-load .u-over').boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.98, box.y + box.height * 0.95);
      await page.mouse.click(box.x + box.width * 0.98, box.y + box.height * 0.95);
      await waitFor(async () => new URL(page.url()).searchParams.get('pickFrom'), 5000);
      await settled(page);
      const picked = new URL(page.url()).searchParams;
      expect(Date.parse(picked.get('pickTo')!) - Date.parse(picked.get('pickFrom')!)).toBe(10_000);
      await expect(page.locator('#h-statements').innerText()).resolves.toMatch(/^Top statements \d/);
      const requests = (await page.evaluate('window.pgscopeRequests')) as string[];
      expect(
        requests.some(
          (u) => u.includes('/load/top') && u.includes(`from=${encodeURIComponent(picked.get('pickFrom')!)}`),
        ),
      ).toBe(true);
      await page.goto(`${baseUrl}/?view=sessions&range=15m`);
      await waitFor(async () => {
        await page.reload();
        await settled(page);
        return (await page.locator('#panel-chains tbody tr', { hasText: 'relation shop.products' }).count()) > 0;
      }, 60_000);
      await page.goto(`${baseUrl}/?view=indexes&range=15m`);
      await settled(page);
      await expect(page.locator('#panel-unused tbody').innerText()).resolves.toContain('orders_note_idx');
      await expect(page.locator('#panel-duplicates tbody').innerText()).resolves.toMatch(
        /orders_status_dup_idx[\s\S]*duplicate of orders_status_idx/,
      );
      expect(problems).toEqual([]);
      await context.close();
    }, 180_000);

    it.each(['light', 'dark'] as const)(
      'renders every view (%s) with no console error, CSP violation or serious axe finding',
      async (scheme) => {
        const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, colorScheme: scheme });
        const { page, problems } = await watch(context);
        const findings: string[] = [];
        for (const view of VIEWS) {
          await page.goto(`${baseUrl}/?view=${view}&range=15m&refresh=0`);
          await settled(page);
          // Charts are drawn on the next frame.
          await page.waitForTimeout(300);
          await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${view}-${scheme}.png`), fullPage: true });
          findings.push(...(await axeViolations(page)).map((f) => `${view}: ${f}`));
        }
        expect(findings).toEqual([]);
        expect(problems).toEqual([]);
        await context.close();
      },
      120_000,
    );

    it('is usable from the keyboard: tab to a view and open it with Enter', async () => {
      const context = await browser.newContext();
      const { page } = await watch(context);
      await page.goto(`${baseUrl}/?range=15m`);
      await settled(page);
      const tab = page.locator('a.tab[data-view="maintenance"]');
      await tab.focus();
      await page.keyboard.press('Enter');
      await page.locator('#panel-wraparound').waitFor();
      expect(new URL(page.url()).searchParams.get('view')).toBe('maintenance');
      await context.close();
    });
  });

  describe('against staged situations', () => {
    let db: TestDatabase;
    let store: TestDatabase;
    let api: TestApp;
    let baseUrl: string;
    let dir: string;

    beforeAll(async () => {
      db = await TestDatabase.create();
      store = await TestDatabase.create({ extensions: [] });
      await db.admin.unsafe(`
        create table accounts (id int primary key, owner int, note text);
        insert into accounts select g, g % 10, 'x' from generate_series(1, 1000) g;
        create index accounts_owner_idx on accounts (owner);
        create index accounts_owner_copy_idx on accounts (owner);
        create index accounts_note_idx on accounts (note);
        analyze accounts`);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-dashboard-'));
      const file = path.join(dir, 'targets.json');
      fs.writeFileSync(
        file,
        JSON.stringify({
          targets: [
            { name: 'staged', url: db.monitorUrl },
            // Nothing listens there: a target that is down.
            { name: 'dead', url: 'postgres://nobody:secret@127.0.0.1:9/none', queryTimeoutMs: 1000 },
          ],
        }),
      );
      api = await createTestApp(null, {
        TARGETS_FILE: file,
        HISTORY: 'on',
        HISTORY_DATABASE_URL: store.url,
        HISTORY_RELATIONS_INTERVAL: '1h',
      });
      await api.app.listen(0, '127.0.0.1');
      baseUrl = `http://127.0.0.1:${(api.app.getHttpServer().address() as { port: number }).port}`;
    }, 60_000);

    afterAll(async () => {
      await api?.close();
      await db?.drop();
      await store?.drop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('shows a statement’s calls over the range as /statements?window= does, and an unused index', async () => {
      const collector = api.app.get(HistoryCollector).now!;
      await collector.collectNow('staged');
      // 20 ms each: the costliest statement of the window, above the history store's own writes (the store is a
      // database of the same server here), so it is in the page's top 25 by time.
      for (let i = 0; i < 7; i++) {
        await db.admin`select count(*), pg_sleep(0.02) from accounts where id = ${i} and owner >= 0`;
      }
      // The staged table is read through its primary key only: the owner and note indexes stay unused.
      await flushStats(db.admin);
      await collector.collectNow('staged');
      const expected = await api.get(`${API}/statements?target=staged&window=15m&limit=100`);
      const row = expected.body.statements.find((s: any) =>
        /pg_sleep\(\$\d\) from accounts where id = \$\d and owner >= \$\d/.test(s.query),
      );
      expect(row.calls).toBe(7);
      const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const { page, problems } = await watch(context);
      await page.goto(`${baseUrl}/?target=staged&view=statements&by=time&range=15m`);
      await settled(page);
      const line = page.locator('#panel-statements tbody tr', { hasText: row.query });
      await expect(line.locator('td').nth(1).innerText()).resolves.toBe('7');
      // Its history view: the calls chart over the range.
      await line.locator('a.sql').click();
      await settled(page);
      await expect(page.locator('#panel-statement figure.chart').count()).resolves.toBe(4);
      expect(new URL(page.url()).searchParams.get('statement')).toBe(row.queryId);
      await page.goto(`${baseUrl}/?target=staged&view=indexes&range=15m`);
      await settled(page);
      const unused = await page.locator('#panel-unused tbody').innerText();
      expect(unused).toContain('accounts_note_idx');
      expect(unused).not.toContain('accounts_pkey');
      await expect(page.locator('#panel-duplicates tbody').innerText()).resolves.toMatch(
        /accounts_owner_(copy_)?idx[\s\S]*duplicate of accounts_owner_(copy_)?idx/,
      );
      expect(problems).toEqual([]);
      await context.close();
    }, 60_000);

    it('shows a lock chain’s root blocker with its waiter nested', async () => {
      const root = await db.session({ applicationName: 'dash-root' });
      const waiter = await db.session({ applicationName: 'dash-waiter' });
      await root.sql`begin`;
      await root.sql`lock table accounts in access exclusive mode`;
      const waiting = waiter.sql`select count(*) from accounts`.catch(() => undefined);
      try {
        await waitUntilLockWait(db.admin, waiter.pid);
        const context = await browser.newContext();
        const { page, problems } = await watch(context);
        await page.goto(`${baseUrl}/?target=staged&view=sessions&range=15m`);
        await settled(page);
        const tree = page.locator('#panel-sessions ul.lock-tree > li');
        await expect(tree.count()).resolves.toBe(1);
        await expect(tree.locator(':scope > .pid').innerText()).resolves.toBe(`pid ${root.pid}`);
        await expect(tree.locator(':scope > ul > li > .pid').innerText()).resolves.toBe(`pid ${waiter.pid}`);
        await expect(tree.innerText()).resolves.toContain('dash-root');
        expect(problems).toEqual([]);
        await context.close();
      } finally {
        await root.sql`rollback`;
        await waiting;
      }
    });

    it('follows the range picker in what it requests, and a pasted URL restores the view', async () => {
      const context = await browser.newContext();
      const { page, problems } = await watch(context);
      await page.goto(`${baseUrl}/?target=staged&view=database&range=15m`);
      await settled(page);
      const requests = () => page.evaluate('window.pgscopeRequests') as Promise<string[]>;
      expect((await requests()).filter((u) => u.includes('/history/database'))).toEqual([
        expect.stringContaining('window=15m'),
      ]);
      await page.locator('button.range[data-range="6h"]').click();
      await settled(page);
      const after = (await requests()).filter((u) => u.includes('window=6h'));
      expect(after.some((u) => u.includes('/history/database'))).toBe(true);
      expect(after.some((u) => u.includes('/cache'))).toBe(true);
      const pasted = page.url();
      expect(new URL(pasted).searchParams.get('range')).toBe('6h');
      // Pasted into another browser: the same view, target and range.
      const other = await browser.newContext();
      const second = await other.newPage();
      await second.goto(pasted);
      await settled(second);
      await expect(second.locator('a.tab[aria-current="page"]').innerText()).resolves.toBe('Database');
      await expect(second.locator('button.range[aria-pressed="true"]').innerText()).resolves.toBe('6h');
      await expect(second.locator('#target').inputValue()).resolves.toBe('staged');
      // A custom range: from and to in the URL, sent as they are.
      await page.locator('button.range[data-range="custom"]').click();
      await page.locator('input[name="from"]').fill('-2h');
      await page.locator('input[name="to"]').fill('-1h');
      await page.locator('form.custom button[type="submit"]').click();
      await settled(page);
      expect((await requests()).some((u) => u.includes('/history/database') && u.includes('from=-2h&to=-1h'))).toBe(
        true,
      );
      expect(problems).toEqual([]);
      await other.close();
      await context.close();
    });

    it('shows a target that is down with its error, without breaking the page', async () => {
      const context = await browser.newContext();
      const { page, problems } = await watch(context);
      await page.goto(`${baseUrl}/?target=dead&view=overview&range=15m`);
      await settled(page);
      // Its live panels say why; the picker still offers every target.
      await expect(page.locator('#panel-sessions .problem').innerText()).resolves.toMatch(/unavailable|refused|down/i);
      await expect(page.locator('#target option').allInnerTexts()).resolves.toEqual(
        expect.arrayContaining(['staged', expect.stringMatching(/^dead/)]),
      );
      await page.reload();
      await settled(page);
      await expect(page.locator('.banner').innerText()).resolves.toContain('Target dead is down');
      // Back to the healthy one.
      await page.locator('#target').selectOption('staged');
      await settled(page);
      await expect(page.locator('#panel-sessions .problem').count()).resolves.toBe(0);
      // The browser logs the failed requests of the dead target (503s) as console errors; nothing else.
      expect(problems.filter((p) => !/status of 50[34]|response: 50[34] /.test(p))).toEqual([]);
      await context.close();
    });
  });

  describe('with API tokens', () => {
    let db: TestDatabase;
    let api: TestApp;
    let baseUrl: string;

    beforeAll(async () => {
      db = await TestDatabase.create();
      api = await createTestApp(db.monitorUrl, { API_TOKENS: 'dash-token' });
      await api.app.listen(0, '127.0.0.1');
      baseUrl = `http://127.0.0.1:${(api.app.getHttpServer().address() as { port: number }).port}`;
    });
    afterAll(async () => {
      await api?.close();
      await db?.drop();
    });

    it('asks for a token, keeps it for the browser session only, and shows the data with it', async () => {
      const context = await browser.newContext();
      const { page, problems } = await watch(context);
      await page.goto(`${baseUrl}/`);
      await page.locator('#token').waitFor();
      await page.locator('#token').fill('wrong');
      await page.locator('form#login button').click();
      await page.locator('form#login', { hasText: 'That token was not accepted' }).waitFor();
      await page.locator('#token').fill('dash-token');
      await page.locator('form#login button').click();
      await settled(page);
      await expect(page.locator('#panel-sessions').innerText()).resolves.toContain('connections');
      expect(await page.evaluate("sessionStorage.getItem('pgscope.token')")).toBe('dash-token');
      expect(await page.evaluate('localStorage.length')).toBe(0);
      // The 401s before the token are the only console errors (and the 409s of the windowed panels: this pgscope
      // keeps no history, which those panels say).
      expect(problems.filter((p) => !/status of (401|409)|response: (401|409) /.test(p))).toEqual([]);
      await expect(page.locator('#panel-load .problem').innerText()).resolves.toContain('HISTORY_DISABLED');
      await context.close();
    });
  });
});
