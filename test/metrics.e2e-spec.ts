import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { EmbeddedPostgres, freePort } from '../src/embedded/embedded';
import { METRICS } from '../src/monitoring/metrics/metrics.names';
import { createTestApp, flushStats, serverMajor, TestApp, waitFor } from './support/harness';

const TOKEN = 'metrics-test-token';
const SCRAPE_TOKEN = 'scrape-only-token';
const which = (bin: string) => {
  try {
    return (
      execFileSync('sh', ['-c', `command -v ${bin}`])
        .toString()
        .trim() || null
    );
  } catch {
    return null;
  }
};
const PROMTOOL = which('promtool');
const PROMETHEUS = which('prometheus');

/**
 * /metrics against a watched server of its own: staged sessions and a statement called a known number of times
 * come back exactly, the exposition passes promtool, a real Prometheus scrapes it and holds the values, series are
 * bounded, and scrapes share collections.
 */
describe('/metrics', () => {
  let watched: EmbeddedPostgres;
  let api: TestApp;
  let admin: postgres.Sql;
  const others: postgres.Sql[] = [];

  beforeAll(async () => {
    watched = await EmbeddedPostgres.start({ major: serverMajor() });
    admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe('create extension pg_stat_statements; create table t (id int); insert into t values (1)');
    api = await createTestApp(watched.url(), {
      API_TOKENS: TOKEN,
      METRICS_TOKENS: SCRAPE_TOKEN,
      METRICS_TOP_STATEMENTS: '1000',
      METRICS_TTL_MS: '60000',
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(others.map((s) => s.end({ timeout: 1 }).catch(() => undefined)));
    await admin?.end();
    await api?.close();
    await watched?.stop();
  });

  const scrape = async (app: TestApp, token = TOKEN, accept?: string) => {
    const res = await app.app.inject({
      url: '/metrics',
      headers: { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) },
    });
    return res;
  };
  const value = (body: string, name: string, labels: Record<string, string> = {}) => {
    const lines = body.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    const match = lines.find((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
    return match === undefined ? undefined : Number(match.slice(match.lastIndexOf(' ') + 1));
  };

  it('serves staged sessions and a statement’s calls exactly, in both text formats, with HELP and TYPE', async () => {
    for (let i = 0; i < 2; i++) {
      const s = postgres(watched.url(), { max: 1, onnotice: () => undefined });
      others.push(s);
      const r = await s.reserve();
      await r`begin`;
      await r`select 1`;
    }
    for (let i = 0; i < 7; i++) await admin`select count(*) from t where id = 42`;
    await flushStats(admin);
    const [{ queryid }] = await admin<{ queryid: string }[]>`
      select queryid::text from pg_stat_statements where query like 'select count(*) from t where id = %'`;
    const res = await scrape(api);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = res.body;
    expect(value(body, 'pgscope_up', { target: 'default' })).toBe(1);
    for (const family of ['server', 'relations']) expect(value(body, 'pgscope_family_up', { family })).toBe(1);
    const [{ bytes }] = await admin<{ bytes: string }[]>`select pg_total_relation_size('t')::int8 as bytes`;
    expect(value(body, 'pgscope_table_size_bytes', { schema: 'public', table: 't' })).toBe(Number(bytes));
    expect(value(body, 'pgscope_connections', { state: 'idle in transaction' })).toBe(2);
    expect(value(body, 'pgscope_statement_calls_total', { queryid })).toBe(7);
    expect(body).toContain('# TYPE pgscope_statement_calls_total counter');
    expect(body).toContain('# HELP pgscope_database_transactions_total');
    expect(value(body, 'pgscope_database_xid_wraparound_ratio', { database: 'postgres' })).toBeGreaterThanOrEqual(0);
    expect(value(body, 'pgscope_series_dropped', { kind: 'statement' })).toBe(0);
    // Every family has HELP and TYPE, every name our prefix.
    for (const line of body.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^pgscope_/);

    const om = await scrape(api, TOKEN, 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5');
    expect(om.headers['content-type']).toMatch(/^application\/openmetrics-text/);
    expect(om.body.trimEnd().endsWith('# EOF')).toBe(true);
    expect(value(om.body, 'pgscope_statement_calls_total', { queryid })).toBe(7);
  });

  it('passes promtool check metrics', async () => {
    if (!PROMTOOL) {
      console.warn('promtool is not installed (apt-get install prometheus): exposition not checked by it');
      return;
    }
    const { body } = await scrape(api);
    const out = execFileSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(out.trim()).toBe('');
  });

  it('keeps per-statement series to METRICS_TOP_STATEMENTS and folds the rest into queryid="other", totals intact', async () => {
    const small = await createTestApp(watched.url(), { API_TOKENS: TOKEN, METRICS_TOP_STATEMENTS: '2' });
    try {
      for (let i = 0; i < 5; i++) await admin.unsafe(`select ${i} as c${i}`);
      await flushStats(admin);
      const [direct] = await admin<{ entries: number }[]>`
        select count(distinct queryid)::int as entries from pg_stat_statements where queryid is not null`;
      const { body } = await scrape(small);
      const series = body.split('\n').filter((l) => l.startsWith('pgscope_statement_calls_total{'));
      expect(series).toHaveLength(3);
      expect(series.some((l) => l.includes('queryid="other"'))).toBe(true);
      // The folded count is what the page leaves out (entries of the same scrape: pgscope's own may add one).
      const dropped = value(body, 'pgscope_series_dropped', { kind: 'statement' })!;
      expect(dropped).toBeGreaterThanOrEqual(direct.entries - 2);
      expect(dropped).toBeLessThanOrEqual(direct.entries - 2 + 3);
      expect(body).toMatch(/^# pgscope: 1 target\(s\); per-statement series limited to METRICS_TOP_STATEMENTS=2/);
    } finally {
      await small.close();
    }
  });

  it('ships alert rules that promtool accepts and that use only metrics pgscope serves', async () => {
    const rules = path.join(__dirname, '..', 'deploy', 'prometheus', 'pgscope-alerts.yml');
    const { body } = await scrape(api);
    const served = new Set(
      body
        .split('\n')
        .filter((l) => l.startsWith('# TYPE '))
        .map((l) => l.split(' ')[2]),
    );
    const used = [...fs.readFileSync(rules, 'utf8').matchAll(/\bpgscope_[a-z_]+/g)].map((m) => m[0]);
    expect(used.length).toBeGreaterThan(10);
    for (const name of new Set(used)) {
      // Served now, or declared (a series appears once there is something to report: a standby, a slot).
      expect([name, served.has(name) || name in METRICS]).toEqual([name, true]);
    }
    if (!PROMTOOL) return;
    const out = execFileSync(PROMTOOL, ['check', 'rules', rules], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('ships a Grafana dashboard that uses only metrics pgscope serves', () => {
    const file = path.join(__dirname, '..', 'deploy', 'grafana', 'pgscope-dashboard.json');
    const dashboard = JSON.parse(fs.readFileSync(file, 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bpgscope_[a-z_]+/g)].map((m) => m[0])));
    for (const name of used) expect([name, name in METRICS]).toEqual([name, true]);
  });

  it('collects each family at most once per METRICS_TTL_MS, whatever the number of scrapes', async () => {
    const probe = () =>
      admin<{ calls: number }[]>`
        select coalesce(sum(calls), 0)::int as calls from pg_stat_statements
         where query like '%datname as database, xact_commit::int8 as commits%'`;
    await flushStats(admin);
    const [before] = await probe();
    await Promise.all(Array.from({ length: 10 }, () => scrape(api)));
    await flushStats(admin);
    const [after] = await probe();
    // Within the TTL of the first test's collection: not one more read of pg_stat_database.
    expect(after.calls - before.calls).toBe(0);
  });

  it('needs a token: the API’s or METRICS_TOKENS, which opens /metrics only', async () => {
    expect((await api.app.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await scrape(api, 'wrong')).statusCode).toBe(401);
    expect((await scrape(api, SCRAPE_TOKEN)).statusCode).toBe(200);
    const onApi = await api.app.inject({
      url: '/api/db/monitoring/postgres',
      headers: { authorization: `Bearer ${SCRAPE_TOKEN}` },
    });
    expect(onApi.statusCode).toBe(401);
  });

  it('is scraped by a real Prometheus, which holds the staged values', async () => {
    if (!PROMETHEUS) {
      console.warn('prometheus is not installed (apt-get install prometheus): the real-scrape test is skipped');
      return;
    }
    const port = await freePort();
    await api.app.listen(port, '127.0.0.1');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-prometheus-'));
    const promPort = await freePort();
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: pgscope
    authorization: { credentials: ${SCRAPE_TOKEN} }
    static_configs: [{ targets: ['127.0.0.1:${port}'] }]
`,
    );
    const prom: ChildProcess = spawn(
      PROMETHEUS,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    const query = async (q: string) => {
      const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      const j: any = await r.json();
      return j.data?.result ?? [];
    };
    try {
      const [{ queryid }] = await admin<{ queryid: string }[]>`
        select queryid::text from pg_stat_statements where query like 'select count(*) from t where id = %'`;
      const up = await waitFor(async () => {
        const r = await query('pgscope_up');
        return r.length > 0 ? r : null;
      }, 30_000);
      expect(up[0].value[1]).toBe('1');
      expect(up[0].metric).toMatchObject({ target: 'default', job: 'pgscope' });
      const idle = await query('pgscope_connections{state="idle in transaction"}');
      expect(idle[0].value[1]).toBe('2');
      const calls = await query(`pgscope_statement_calls_total{queryid="${queryid}"}`);
      expect(calls[0].value[1]).toBe('7');
      const count = await query('count({__name__=~"pgscope_.+"})');
      expect(Number(count[0].value[1])).toBeLessThan(2000);
    } finally {
      prom.kill('SIGTERM');
      await new Promise((r) => prom.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
