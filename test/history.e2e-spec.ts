import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { HistoryCollector } from '../src/history/collector.service';
import { FamilyName } from '../src/history/family';
import { API, createTestApp, serverMajor, TestApp } from './support/harness';

/**
 * History against a watched server of its own (restarts, resets and evictions would disturb the other specs), with
 * the store on a second server (stopped for the store_down case). Snapshots are driven through the collector's own
 * entry point; windows are asked with from/to set to the snapshots' own times, so every count is exact.
 */
describe('history: windows over snapshots', () => {
  let watched: EmbeddedPostgres;
  let store: EmbeddedPostgres;
  let api: TestApp;
  let admin: postgres.Sql;
  let runner: postgres.Sql;
  let storeSql: postgres.Sql;

  beforeAll(async () => {
    [watched, store] = await Promise.all([
      EmbeddedPostgres.start({
        major: serverMajor(),
        settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.max': 150 },
      }),
      EmbeddedPostgres.start({ major: serverMajor() }),
    ]);
    admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe(`
      create extension pg_stat_statements;
      create table items (id int primary key, v int not null);
      insert into items select g, 0 from generate_series(1, 100) g;`);
    storeSql = postgres(store.url(), { max: 1, onnotice: () => undefined });
    await storeSql.unsafe('create database history');
    api = await createTestApp(watched.url(), {
      HISTORY: 'on',
      HISTORY_DATABASE_URL: store.url('history'),
      // Cadences long enough that no interval of the staging looks like an outage.
      HISTORY_STATEMENTS_INTERVAL: '1h',
      HISTORY_DATABASE_INTERVAL: '1h',
      HISTORY_RELATIONS_INTERVAL: '1h',
      HISTORY_SIZES_INTERVAL: '1h',
    });
    runner = postgres(watched.url(), { max: 1, onnotice: () => undefined });
  }, 120_000);

  afterAll(async () => {
    await runner?.end();
    await admin?.end();
    await storeSql?.end();
    await api?.close();
    await Promise.all([watched?.stop(), store?.stop()]);
  });

  const collector = () => api.app.get(HistoryCollector).now!;
  const history = () => postgres(store.url('history'), { max: 1, onnotice: () => undefined });

  /** A snapshot of `family`, and its time on the watched server's clock (the store's row). */
  async function snapshot(family: FamilyName = 'statements'): Promise<string> {
    await collector().collectNow('default', [family]);
    const sql = history();
    try {
      const [row] = await sql<{ at: Date }[]>`select max(at) as at from snapshots where family = ${family}`;
      return row.at.toISOString();
    } finally {
      await sql.end();
    }
  }

  const calls = (n: number, text = 'select v from items where id = $1') =>
    (async () => {
      for (let i = 0; i < n; i++) await runner.unsafe(text.replace('$1', String(i + 1)));
    })();

  const statement = async (from: string, to: string, text = 'select v from items where id = $1') => {
    const res = await api.get(`${API}/statements?from=${from}&to=${to}&limit=1000`);
    expect(res.status).toBe(200);
    const s = res.body.statements.find((x: any) => x.query === text);
    return { body: res.body, s };
  };

  it('counts exactly the calls of each interval, and of a window of several', async () => {
    const t0 = await snapshot();
    await calls(5);
    const t1 = await snapshot();
    await calls(3);
    const t2 = await snapshot();

    const a = await statement(t0, t1);
    expect(a.s).toMatchObject({ calls: 5, rows: 5, minExecTimeMs: null, statsSince: null });
    expect(a.body.meta.window).toMatchObject({ from: t0, to: t1, gaps: [], possiblyIncomplete: false });
    const covered = (Date.parse(t1) - Date.parse(t0)) / 1000;
    expect(a.body.meta.window.coveredSeconds).toBeCloseTo(covered, 3);
    expect(a.s.callsPerSecond).toBeCloseTo(5 / covered, 6);
    expect((await statement(t1, t2)).s.calls).toBe(3);
    expect((await statement(t0, t2)).s.calls).toBe(8);
  });

  const seconds = (...pairs: [string, string][]) =>
    pairs.reduce((sum, [a, b]) => sum + (Date.parse(b) - Date.parse(a)) / 1000, 0);

  it('names a pg_stat_statements_reset() a gap, and counts the intervals around it exactly', async () => {
    const t0 = await snapshot();
    await calls(5);
    const t1 = await snapshot();
    await admin`select pg_stat_statements_reset()`;
    await calls(2);
    const t2 = await snapshot();
    await calls(3);
    const t3 = await snapshot();
    const { s, body } = await statement(t0, t3);
    if (serverMajor() >= 14) {
      // The reset's interval is unknown: a gap, not a count.
      expect(s.calls).toBe(8);
      expect(body.meta.window.gaps).toEqual([{ from: t1, to: t2, reason: 'statements_reset' }]);
      expect(body.meta.window.coveredSeconds).toBeCloseTo(seconds([t0, t1], [t2, t3]), 3);
      expect(body.statsReset).not.toBeNull();
    } else {
      // pg_stat_statements 1.8 has no reset time: the entries found started again are counted whole since, and the
      // window says that it may be short.
      expect(s.calls).toBe(10);
      expect(body.meta.window.gaps).toEqual([{ from: t1, to: t2, reason: 'entry_evicted' }]);
      expect(body.meta.window.possiblyIncomplete).toBe(true);
    }
  });

  it('names a server restart a gap, and counts the calls after it exactly', async () => {
    const t0 = await snapshot();
    await calls(4);
    await watched.restart();
    await calls(2);
    const t1 = await snapshot();
    await calls(6);
    const t2 = await snapshot();
    const { s, body } = await statement(t0, t2);
    expect(s.calls).toBe(6);
    expect(body.meta.window.gaps).toEqual([{ from: t0, to: t1, reason: 'server_restart' }]);
    expect(body.meta.window.coveredSeconds).toBeCloseTo(seconds([t1, t2]), 3);
  });

  it('says a window is possibly incomplete when entries were evicted in it, and counts a kept one exactly', async () => {
    const hot = 'select v from items where id = $1 and v is not null';
    await calls(60, hot);
    const t0 = await snapshot();
    await calls(40, hot);
    // More distinct statements than pg_stat_statements.max (150): the least used are evicted.
    for (let n = 1; n <= 250; n++) await runner.unsafe(`select ${Array.from({ length: n }, () => '1').join(', ')}`);
    await calls(10, hot);
    const t1 = await snapshot();
    const { s, body } = await statement(t0, t1, hot);
    expect(s.calls).toBe(50);
    expect(body.meta.window.possiblyIncomplete).toBe(true);
    expect(body.meta.window.evictions).toBeGreaterThan(0);
    expect(body.meta.window.gaps).toEqual([{ from: t0, to: t1, reason: 'entry_evicted' }]);
    if (serverMajor() >= 14) {
      const [info] = await admin<{ dealloc: number }[]>`select dealloc::int from pg_stat_statements_info`;
      expect(body.deallocations).toBe(body.meta.window.evictions);
      expect(info.dealloc).toBeGreaterThanOrEqual(body.meta.window.evictions);
    }
  });
});
