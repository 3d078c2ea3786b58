import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { HistoryCollector } from '../src/history/collector.service';
import { HistoryService } from '../src/history/history.service';
import { API, createTestApp, rejectsInvalidParameters, serverMajor, TestApp, TestDatabase } from './support/harness';
import { Proxy } from './support/proxy';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('history off', () => {
  let db: TestDatabase;
  let api: TestApp;

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl, { HISTORY: 'off' });
  });

  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  it.each([
    `${API}/statements?window=15m`,
    `${API}/cache?from=-1h`,
    `${API}/indexes?window=7d`,
    `${API}/history`,
    `${API}/history/database`,
    `${API}/history/sizes`,
    `${API}/history/statements/1`,
    '/api/db/monitoring/instances',
  ])('answers %s with 409 HISTORY_DISABLED and how to turn it on', async (url) => {
    const res = await api.get(url);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'HISTORY_DISABLED', hint: expect.stringContaining('HISTORY=on') });
  });

  it('answers without a window exactly as without history', async () => {
    const res = await api.get(`${API}/statements?limit=1`);
    expect(res.status).toBe(200);
    expect(res.body.meta.window).toBeNull();
  });

  const future = new Date(Date.now() + 3_600_000).toISOString();
  rejectsInvalidParameters(() => api, `${API}/statements`, [
    ['window=15x', 'window', 'must be a span such as 15m, 1h or 7d'],
    ['window=0m', 'window', 'must be a span such as 15m, 1h or 7d'],
    ['window=1h&from=-2h', 'from', 'cannot be combined with window'],
    ['to=now', 'from', 'is required with to'],
    ['from=yesterday', 'from', 'must be an ISO 8601 time, now, or a relative one such as -15m'],
    ['from=-1h&to=-2h', 'from', 'must start before the window ends'],
    ['window=30d', 'window', 'must not start more than HISTORY_RETENTION_DAYS (14 days) ago: that history is dropped'],
    [`from=-1h&to=${future}`, 'to', 'must not be in the future'],
    ['from=2026-02-30T00:00:00Z', 'from', 'must be an ISO 8601 time, now, or a relative one such as -15m'],
  ]);
});

/**
 * The store and the watched servers fail: the live answers do not notice, windowed ones say why, the collector
 * names the gaps and resumes. A target reached through a proxy is cut off without a restart of its server.
 */
describe('history faults', () => {
  let watched: EmbeddedPostgres;
  let store: EmbeddedPostgres;
  let proxy: Proxy;
  let api: TestApp;
  let runner: postgres.Sql;
  let dir: string;
  const env = () => ({
    HISTORY: 'on',
    HISTORY_DATABASE_URL: store.url('history'),
    TARGETS_FILE: path.join(dir, 'targets.yaml'),
    // One second: an outage of three is a gap (2.5 cadences), collections are driven by hand.
    HISTORY_STATEMENTS_INTERVAL: '1s',
    HISTORY_DATABASE_INTERVAL: '1s',
    HISTORY_RELATIONS_INTERVAL: '1s',
    HISTORY_SIZES_INTERVAL: '1s',
  });

  beforeAll(async () => {
    [watched, store] = await Promise.all([
      EmbeddedPostgres.start({ major: serverMajor(), settings: { shared_preload_libraries: 'pg_stat_statements' } }),
      EmbeddedPostgres.start({ major: serverMajor(), dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'store-')) }),
    ]);
    const admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe('create extension pg_stat_statements; create table t (id int)');
    await admin.end();
    const s = postgres(store.url(), { max: 1, onnotice: () => undefined });
    await s.unsafe('create database history');
    await s.end();
    proxy = await Proxy.start(watched.port);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-'));
    fs.writeFileSync(
      path.join(dir, 'targets.yaml'),
      [
        'targets:',
        `  - { name: near, url: "${watched.url()}" }`,
        `  - { name: far, url: "${watched.url().replace(`:${watched.port}/`, `:${proxy.port}/`)}", queryTimeoutMs: 1000 }`,
      ].join('\n'),
    );
    api = await createTestApp(null, env());
    runner = postgres(watched.url(), { max: 1, onnotice: () => undefined });
  }, 120_000);

  afterAll(async () => {
    await runner?.end();
    await api?.close();
    await proxy?.close();
    await Promise.all([watched?.stop(), store?.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const collector = (app = api) => app.app.get(HistoryCollector).now!;
  const state = (target: string, family = 'statements') =>
    collector()
      .list()
      .find((s) => s.target === target && s.family === family)!;
  const gaps = async (target: string, from: string, app = api) => {
    const res = await app.get(`${API}/statements?target=${target}&from=${from}&to=now`);
    expect(res.status).toBe(200);
    return res.body.meta.window.gaps;
  };
  const work = async (n: number) => {
    for (let i = 0; i < n; i++) await runner`select count(*) from t where id = ${i}`;
  };

  it('keeps a target that is cut off from the others, and names its outage collector_down', async () => {
    const start = new Date().toISOString();
    await collector().collectNow('near', ['statements']);
    await collector().collectNow('far', ['statements']);
    proxy.sever();
    await work(3);
    await collector().collectNow('far', ['statements']);
    expect(state('far').lastError).not.toBeNull();
    // Every connection reset during its startup (postgres.js alone would try again for ever): a 503, not a hang.
    const live = await api.get(`${API}?target=far`);
    expect(live.status).toBe(503);
    expect(live.body.code).toBe('DATABASE_UNAVAILABLE');
    // The other target's collection is not held up.
    await collector().collectNow('near', ['statements']);
    expect(state('near').lastError).toBeNull();
    await delay(3000);
    proxy.restore();
    await collector().collectNow('far', ['statements']);
    await collector().collectNow('near', ['statements']);
    expect(state('far').lastError).toBeNull();
    const far = await gaps('far', start);
    expect(far).toEqual([expect.objectContaining({ reason: 'collector_down' })]);
    // The near target was not collected for more than 2.5 cadences either (the test waited): the same reason.
    expect(new Set((await gaps('near', start)).map((g: any) => g.reason))).toEqual(new Set(['collector_down']));
  });

  it('answers live while the store is down, 503 HISTORY_UNAVAILABLE for a window, and names the outage store_down', async () => {
    await collector().collectNow('near', ['statements']);
    const start = state('near').lastAt!.toISOString();
    await store.pause();
    try {
      const live = await api.get(`${API}/statements?target=near&limit=1`);
      expect(live.status).toBe(200);
      const windowed = await api.get(`${API}/statements?target=near&window=1h`);
      expect(windowed.status).toBe(503);
      expect(windowed.body).toMatchObject({ code: 'HISTORY_UNAVAILABLE' });
      expect(JSON.stringify(windowed.body)).not.toMatch(/postgres:\/\/|password/);
      await work(2);
      await collector().collectNow('near', ['statements']);
      expect(state('near').lastError).toMatchObject({ code: 'HISTORY_UNAVAILABLE' });
    } finally {
      await store.resume();
    }
    await delay(3000);
    await collector().collectNow('near', ['statements']);
    expect(state('near').lastError).toBeNull();
    expect((await gaps('near', start)).map((g: any) => g.reason)).toEqual(['store_down']);
  });

  it('names the time pgscope was not running collector_down, from its last snapshot in the store', async () => {
    await collector().collectNow('near', ['statements']);
    const last = state('near').lastAt!.toISOString();
    await api.close();
    api = await createTestApp(null, env());
    await collector().collectNow('near', ['statements']);
    const res = await api.get(`${API}/statements?target=near&from=${last}&to=now`);
    expect(res.body.meta.window.gaps).toEqual([
      { from: last, to: state('near').lastAt!.toISOString(), reason: 'collector_down' },
    ]);
  });

  it('drops whole day partitions past HISTORY_RETENTION_DAYS, and keeps the rest', async () => {
    const history = api.app.get(HistoryService).store;
    const old = new Date(Date.now() - 20 * 86_400_000);
    await history.ensurePartitions(old);
    const s = postgres(store.url('history'), { max: 1, onnotice: () => undefined });
    try {
      const day = old.toISOString().slice(0, 10).replace(/-/g, '');
      const exists = async (name: string) =>
        (await s<{ n: number }[]>`select count(*)::int as n from pg_class where relname = ${name}`)[0].n === 1;
      expect(await exists(`statement_deltas_p${day}`)).toBe(true);
      const dropped = await history.applyRetention();
      expect(dropped).toEqual(expect.arrayContaining([`statement_deltas_p${day}`, `statement_hourly_p${day}`]));
      expect(await exists(`statement_deltas_p${day}`)).toBe(false);
      const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
      expect(await exists(`statement_deltas_p${today}`)).toBe(true);
    } finally {
      await s.end();
    }
  });
});
