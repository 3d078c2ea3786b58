import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { HistoryCollector } from '../src/history/collector.service';
import { FamilyName } from '../src/history/family';
import { HistoryService } from '../src/history/history.service';
import { rollUpHours } from '../src/monitoring/statements/statements.snapshot';
import { API, createTestApp, flushStats, serverMajor, settled, TestApp } from './support/harness';

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

  it('gives the cache ratios of a window from the block deltas of that window alone', async () => {
    await admin.unsafe(`
      create table hot (id int primary key, pad text);
      insert into hot select g, repeat('x', 200) from generate_series(1, 2000) g;`);
    await admin.unsafe('vacuum analyze hot');
    const [{ pages }] = await admin<{ pages: number }[]>`
      select (pg_relation_size('hot') / current_setting('block_size')::int)::int as pages`;
    // Both connections flushed, then read until settled: on 13/14 an idle session keeps its counters (the staging
    // insert's among them) until its next transaction, and the collector takes them in asynchronously.
    const statio = async () => {
      await flushStats(runner);
      await flushStats(admin);
      return settled(async () => {
        const [row] = await admin<{ hit: number; read: number; idx: number }[]>`
          select heap_blks_hit::int as hit, heap_blks_read::int as read, idx_blks_hit::int as idx
            from pg_statio_user_tables where relname = 'hot'`;
        return row;
      });
    };
    await runner.unsafe('select count(*) from hot');
    const before = await statio();
    const t0 = await snapshot('relations');
    for (let i = 0; i < 7; i++) await runner.unsafe('select count(*) from hot');
    const after = await statio();
    const t1 = await snapshot('relations');
    const res = await api.get(`${API}/cache?from=${t0}&to=${t1}&table=hot`);
    expect(res.status).toBe(200);
    const [table] = res.body.perTable;
    // Seven sequential scans of a table in shared buffers: seven times its pages, all hits.
    expect(table).toMatchObject({ table: 'hot', heapBlksHit: 7 * pages, heapBlksRead: 0, heapHitRatio: 1 });
    expect(table.heapBlksHit).toBe(after.hit - before.hit);
    expect(table.idxBlksHit).toBe(after.idx - before.idx);
    expect(res.body.meta.window).toMatchObject({ from: t0, to: t1, gaps: [] });
    expect(res.body.buffers).toBeNull();
    // The live answer is cumulative: it has the scans before the window too.
    const live = await api.get(`${API}/cache?table=hot`);
    expect(live.body.perTable[0].heapBlksHit).toBeGreaterThan(table.heapBlksHit);
    expect(live.body.meta.window).toBeNull();
  });

  it('counts index scans over a window, calls an index unused that was not scanned in it, and says how much it grew', async () => {
    await admin.unsafe(`
      create table used (id int primary key, tag text not null);
      insert into used select g, 'tag' || g from generate_series(1, 1000) g;
      create index used_tag on used (tag);`);
    const probe = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    try {
      await probe.unsafe('set enable_seqscan = off');
      // used_tag is scanned before the window only.
      for (let i = 1; i <= 3; i++) await probe.unsafe(`select id from used where tag = 'tag${i}'`);
      await flushStats(probe);
      const size = async (name: string) =>
        Number((await admin<{ bytes: number }[]>`select pg_relation_size(${name})::int8 as bytes`)[0].bytes);
      const before = { pkey: await size('used_pkey'), tag: await size('used_tag') };
      const t0 = await snapshot('relations');
      await snapshot('sizes');
      for (let i = 1; i <= 4; i++) await probe.unsafe(`select tag from used where id = ${i}`);
      await probe.unsafe(`insert into used select g, 'tag' || g from generate_series(1001, 5000) g`);
      await flushStats(probe);
      await snapshot('relations');
      await snapshot('sizes');
      const res = await api.get(`${API}/indexes?from=${t0}&to=now&table=used&bloat=none`);
      expect(res.status).toBe(200);
      const byName = Object.fromEntries(res.body.indexes.map((i: any) => [i.index, i]));
      expect(byName.used_pkey).toMatchObject({ scans: 4, unused: false });
      expect(byName.used_tag).toMatchObject({ scans: 0, unused: true });
      // Each grew by what the insert added: the sizes stored at the window's start and after the insert.
      expect(byName.used_pkey.sizeGrowthBytes).toBe((await size('used_pkey')) - before.pkey);
      expect(byName.used_tag.sizeGrowthBytes).toBe((await size('used_tag')) - before.tag);
      expect(byName.used_tag.sizeGrowthBytes).toBeGreaterThan(0);
      expect(res.body.tables[0]).toMatchObject({ table: 'used', indexScans: 4 });
      expect(res.body.meta.window.gaps).toEqual([]);
      // Live: cumulative, the earlier scans count.
      const live = await api.get(`${API}/indexes?table=used&bloat=none`);
      const tag = live.body.indexes.find((i: any) => i.index === 'used_tag');
      expect(tag).toMatchObject({ scans: 3, unused: false, sizeGrowthBytes: null });
    } finally {
      await probe.end();
    }
  });

  it('gives pg_stat_database as per-second points whose sums are the counters’ deltas', async () => {
    await admin.unsafe('create database quiet');
    const quiet = postgres(watched.url('quiet'), { max: 1, onnotice: () => undefined });
    const commits = async () =>
      Number(
        (await admin<{ n: number }[]>`select xact_commit::int8 as n from pg_stat_database where datname = 'quiet'`)[0]
          .n,
      );
    try {
      await quiet`select 1`;
      await flushStats(quiet);
      const t0 = await snapshot('database');
      const before = await commits();
      for (let i = 0; i < 10; i++) await quiet`select ${i}::int`;
      await flushStats(quiet);
      const t1 = await snapshot('database');
      const after = await commits();
      const res = await api.get(`${API}/history/database?database=quiet&from=${t0}&to=${t1}&step=1h`);
      expect(res.status).toBe(200);
      const total = res.body.points.reduce(
        (sum: number, p: any) => sum + (p.commitsPerSecond ?? 0) * p.coveredSeconds,
        0,
      );
      expect(after - before).toBeGreaterThanOrEqual(10);
      expect(Math.round(total)).toBe(after - before);
      expect(res.body).toMatchObject({ database: 'quiet', stepSeconds: 3600 });
      // A step below the cadence has nothing to put in most of its points: a 400 naming it.
      const fine = await api.get(`${API}/history/database?database=quiet&window=1h&step=1m`);
      expect(fine.status).toBe(400);
      expect(fine.body.invalidParams).toEqual([expect.objectContaining({ name: 'step' })]);
    } finally {
      await quiet.end();
    }
  });

  it('gives one statement over time, and a 404 naming a queryid it never saw', async () => {
    const t0 = await snapshot();
    await calls(9);
    const t1 = await snapshot();
    const { s } = await statement(t0, t1);
    expect(s.calls).toBe(9);
    const res = await api.get(`${API}/history/statements/${s.queryId}?from=${t0}&to=${t1}&step=1h`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      queryId: s.queryId,
      query: 'select v from items where id = $1',
      users: ['postgres'],
    });
    expect(res.body.points.reduce((sum: number, p: any) => sum + p.calls, 0)).toBe(9);
    const unknown = await api.get(`${API}/history/statements/12345?window=1h`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'STATEMENT_NOT_FOUND', detail: expect.stringContaining('12345') });
    expect((await api.get(`${API}/history/statements/12x?window=1h`)).status).toBe(400);
  });

  it('gives sizes over time, and the store and collection status', async () => {
    await snapshot('sizes');
    const res = await api.get(`${API}/history/sizes?window=2h&step=1h&limit=3`);
    expect(res.status).toBe(200);
    const [{ bytes }] = await admin<{ bytes: number }[]>`select pg_total_relation_size('used')::int8 as bytes`;
    expect(res.body.relations.find((r: any) => r.name === 'used')).toMatchObject({
      kind: 'table',
      bytes: Number(bytes),
    });
    expect(res.body.databaseSize.at(-1).bytes).toBeGreaterThan(0);

    const status = await api.get(`${API}/history`);
    expect(status.status).toBe(200);
    expect(status.body.store).toMatchObject({ kind: 'external', schemaVersion: 4, retentionDays: 14 });
    const families = status.body.collections.map((c: any) => `${c.family}:${c.database ?? ''}`);
    expect(families).toEqual(
      expect.arrayContaining(['statements:', 'database:', 'relations:postgres', 'sizes:postgres']),
    );
    expect(status.body.collections.find((c: any) => c.family === 'statements')).toMatchObject({
      target: 'default',
      intervalSeconds: 3600,
      skips: 0,
      lastError: null,
    });
  });

  it('gives a long window from the hourly and daily rollups exactly the sums of the raw deltas', async () => {
    // Three days of one entry every 7 minutes, written as the collector writes them, then rolled up.
    const store = api.app.get(HistoryService).store;
    const targetId = await store.targetId('default');
    const now = Date.now();
    const start = now - 3 * 86_400_000;
    for (let d = 0; d <= 3; d++) await store.ensurePartitions(new Date(start + d * 86_400_000));
    const sql = history();
    try {
      await sql`update targets set hourly_through = ${new Date(start - 86_400_000)},
                                   daily_through = ${new Date(start - 86_400_000)} where id = ${targetId}`;
      await sql`
        insert into statement_deltas (at, target_id, dbid, userid, queryid, toplevel, calls, exec_ms, rows)
        select to_timestamp(${start / 1000}) + g * interval '7 minutes', ${targetId}, 1, 10, 424242, true, g, g * 0.5, 1
          from generate_series(1, 600) g
         where to_timestamp(${start / 1000}) + g * interval '7 minutes' < now()`;
      await sql`insert into statement_texts (target_id, dbid, userid, queryid, query, first_seen)
                values (${targetId}, 1, 10, 424242, 'select 424242', now())`;
      await store.write((tx) => rollUpHours(tx, targetId, new Date()));
      const [rolled] = await sql<{ hourly: number; daily: number }[]>`
        select (select count(*)::int from statement_hourly where queryid = 424242) as hourly,
               (select count(*)::int from statement_daily where queryid = 424242) as daily`;
      expect(rolled.hourly).toBeGreaterThan(24);
      expect(rolled.daily).toBeGreaterThanOrEqual(2);
      // Windows of more than two days: whole days from statement_daily, hours around them, raw deltas at the edges.
      for (const back of [2.5, 2.9, 3.2]) {
        const from = new Date(now - back * 86_400_000);
        const [expected] = await sql<{ calls: number; exec: number }[]>`
          select sum(calls)::int8 as calls, sum(exec_ms)::float8 as exec from statement_deltas
           where queryid = 424242 and at > ${from} and at <= ${new Date(now)}`;
        const res = await api.get(
          `${API}/statements?from=${from.toISOString()}&to=${new Date(now).toISOString()}&queryId=424242`,
        );
        expect(res.status).toBe(200);
        expect([back, res.body.statements[0].calls]).toEqual([back, Number(expected.calls)]);
        expect(res.body.statements[0].totalExecTimeMs).toBeCloseTo(expected.exec, 6);
      }
    } finally {
      await sql.end();
    }
  });
});
