import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { API, createTestApp, serverMajor, TestApp, TestDatabase, rejectsInvalidParameters } from './support/harness';

const URL = `${API}/statements`;

describe('GET /statements', () => {
  let db: TestDatabase;
  let api: TestApp;
  let runner: postgres.Sql;

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl);
    await db.admin.unsafe(`
      drop role if exists stmt_runner;
      create role stmt_runner login password 'runner';
      create table items (id int primary key, v int not null);
      insert into items select g, 0 from generate_series(1, 100) g;
      grant select, update on items to stmt_runner;
      create function nested_count() returns bigint language plpgsql as $$
        declare n bigint; begin select count(*) into n from items where v >= 0; return n; end $$;`);
    runner = postgres(db.url.replace(/\/\/[^@]+@/, '//stmt_runner:runner@'), {
      max: 1,
      fetch_types: false,
      onnotice: () => undefined,
    });
    for (let i = 1; i <= 7; i++) await runner`select v from items where id = ${i}`;
    for (let i = 0; i < 3; i++) await runner`select count(*) from items`;
    for (let i = 0; i < 5; i++) await runner.unsafe('update items set v = v + 1 where id <= 10');
    for (let i = 0; i < 2; i++) await runner.unsafe('select count(*) from items where id > 0 /* tag:50%_off */');
    for (let i = 0; i < 2; i++) await runner.unsafe('select count(*), max(v) from items /* tag:50ab_off */');
    // A statement nested in a function is tracked (toplevel = false) when track = all.
    const superuser = await db.session();
    await superuser.sql.unsafe("set pg_stat_statements.track = 'all'");
    await superuser.sql`select nested_count()`;
  });

  afterAll(async () => {
    await runner?.end();
    await api?.close();
    await db?.drop();
  });

  const list = async (query: string) => {
    const res = await api.get(`${URL}?database=${db.name}&${query}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const find = (body: any, text: string) => body.statements.find((s: any) => s.query === text);

  it('counts a known statement exactly', async () => {
    const body = await list('user=stmt_runner&limit=1000');
    const s = find(body, 'select v from items where id = $1');
    expect(s).toMatchObject({
      database: db.name,
      user: 'stmt_runner',
      toplevel: serverMajor() >= 14 ? true : null,
      calls: 7,
      rows: 7,
      queryId: expect.stringMatching(/^-?\d+$/),
    });
    expect(s.meanExecTimeMs).toBeCloseTo(s.totalExecTimeMs / 7, 9);
    expect(s.minExecTimeMs).toBeLessThanOrEqual(s.meanExecTimeMs);
    expect(s.maxExecTimeMs).toBeGreaterThanOrEqual(s.meanExecTimeMs);
    expect(find(body, 'select count(*) from items')).toMatchObject({ calls: 3, rows: 3 });
    const update = body.statements.find((x: any) => x.query?.startsWith('update items set v = v + $1'));
    expect(update).toMatchObject({ calls: 5, rows: 50 });
    expect(update.walRecords).toBeGreaterThan(0);
    expect(update.walBytes).toBeGreaterThan(0);
  });

  it('returns every field, with exactly the values pg_stat_statements holds', async () => {
    const body = await list('user=stmt_runner&limit=1000');
    const s = find(body, 'select v from items where id = $1');
    const [raw] = await db.admin`
      select calls, rows, total_exec_time, shared_blks_hit, shared_blks_read
        from pg_stat_statements where queryid = ${s.queryId}::int8 and userid = 'stmt_runner'::regrole`;
    expect(s.calls).toBe(Number(raw.calls));
    expect(s.totalExecTimeMs).toBe(raw.total_exec_time);
    expect(s.sharedBlksHit).toBe(Number(raw.shared_blks_hit));
    const blocks = Number(raw.shared_blks_hit) + Number(raw.shared_blks_read);
    expect(s.cacheHitRatio).toBe(blocks ? Number(raw.shared_blks_hit) / blocks : null);
    const major = serverMajor();
    expect(Object.keys(s).sort()).toEqual(
      [
        'queryId',
        'query',
        'database',
        'user',
        'toplevel',
        'calls',
        'rows',
        'totalExecTimeMs',
        'meanExecTimeMs',
        'minExecTimeMs',
        'maxExecTimeMs',
        'stddevExecTimeMs',
        'totalPlanTimeMs',
        'plans',
        'percentOfTotalTime',
        'sharedBlksHit',
        'sharedBlksRead',
        'sharedBlksDirtied',
        'sharedBlksWritten',
        'cacheHitRatio',
        'localBlksHit',
        'localBlksRead',
        'tempBlksRead',
        'tempBlksWritten',
        'blkReadTimeMs',
        'blkWriteTimeMs',
        'walRecords',
        'walBytes',
        'jitFunctions',
        'jitTimeMs',
        'statsSince',
        'callsPerSecond',
        'execTimeMsPerSecond',
      ].sort(),
    );
    // A field the server lacks is null, never 0 and never missing.
    expect(s.jitFunctions === null).toBe(major < 15);
    expect(s.jitTimeMs === null).toBe(major < 15);
    expect(s.statsSince === null).toBe(major < 17);
    // Rates need a window: null in the cumulative answer.
    expect([s.callsPerSecond, s.execTimeMsPerSecond]).toEqual([null, null]);
    expect(s.plans).toBe(0);
    expect(s.totalPlanTimeMs).toBe(0);
    expect(body.statsReset === null).toBe(major < 14);
    expect(body.deallocations).toBe(major < 14 ? null : 0);
  });

  it('gives the share of all execution time, and totals over every match', async () => {
    const [before] = await db.admin`select sum(total_exec_time)::float8 as t from pg_stat_statements`;
    const body = await list('user=stmt_runner&limit=2&orderBy=calls');
    const [after] = await db.admin`select sum(total_exec_time)::float8 as t from pg_stat_statements`;
    const s = body.statements[0];
    expect(s.percentOfTotalTime).toBeLessThanOrEqual((100 * s.totalExecTimeMs) / before.t);
    expect(s.percentOfTotalTime).toBeGreaterThanOrEqual((100 * s.totalExecTimeMs) / after.t);
    const [expected] = await db.admin`
      select count(*)::int as n, sum(calls)::int as calls, sum(total_exec_time)::float8 as exec
        from pg_stat_statements where userid = 'stmt_runner'::regrole and dbid = (select oid from pg_database where datname = current_database())`;
    expect(body.statements).toHaveLength(2);
    expect(body.totals).toEqual({
      statements: expected.n,
      calls: expected.calls,
      totalExecTimeMs: expect.closeTo(expected.exec, 6),
      totalPlanTimeMs: 0,
    });
    expect(expected.n).toBe(5);
    expect(expected.calls).toBe(7 + 3 + 5 + 2 + 2);
  });

  it('orders, pages and filters in SQL', async () => {
    const all = (await list('user=stmt_runner&orderBy=calls&limit=1000')).statements;
    expect(all.map((s: any) => s.calls)).toEqual([7, 5, 3, 2, 2]);
    const asc = (await list('user=stmt_runner&orderBy=calls&order=asc&limit=1000')).statements;
    expect(asc.map((s: any) => s.calls)).toEqual([2, 2, 3, 5, 7]);
    const page2 = (await list('user=stmt_runner&orderBy=calls&limit=2&offset=2')).statements;
    expect(page2.map((s: any) => s.queryId)).toEqual(all.slice(2, 4).map((s: any) => s.queryId));
    const byRows = (await list('user=stmt_runner&orderBy=rows&limit=1')).statements;
    expect(byRows).toMatchObject([{ rows: 50 }]);
    for (const orderBy of [
      'totalExecTime',
      'meanExecTime',
      'maxExecTime',
      'sharedBlksRead',
      'tempBlksWritten',
      'walBytes',
      'totalPlanTime',
      'ioTime',
    ]) {
      const res = await api.get(`${URL}?database=${db.name}&orderBy=${orderBy}`);
      expect(res.status).toBe(200);
    }
    const byTime = (await list('user=stmt_runner&orderBy=totalExecTime&limit=1000')).statements.map(
      (s: any) => s.totalExecTimeMs,
    );
    expect(byTime).toEqual([...byTime].sort((a, b) => b - a));
    expect((await list('user=stmt_runner&minCalls=5')).statements.map((s: any) => s.calls).sort()).toEqual([5, 7]);
    const a = find(all.length ? { statements: all } : { statements: [] }, 'select v from items where id = $1');
    const byId = (await list(`queryId=${a.queryId}`)).statements;
    expect(byId.map((s: any) => s.query)).toEqual(['select v from items where id = $1']);
    expect((await list('user=nobody_here')).statements).toEqual([]);
    expect((await api.get(`${URL}?database=no_such_db`)).body.totals.statements).toBe(0);
  });

  it('search is a case-insensitive substring in which % and _ are literal', async () => {
    const texts = async (search: string) =>
      (await list(`search=${encodeURIComponent(search)}`)).statements.map((s: any) => s.query);
    expect(await texts('50%_off')).toEqual(['select count(*) from items where id > $1 /* tag:50%_off */']);
    expect(await texts('TAG:50%')).toEqual(['select count(*) from items where id > $1 /* tag:50%_off */']);
    expect(await texts('50ab_OFF')).toEqual(['select count(*), max(v) from items /* tag:50ab_off */']);
    expect(await texts('tag:50_')).toEqual([]);
  });

  it('toplevel separates statements nested in functions (PostgreSQL 14+)', async () => {
    if (serverMajor() < 14) {
      const res = await api.get(`${URL}?toplevel=false`);
      expect(res.status).toBe(400);
      expect(res.body.invalidParams).toEqual([{ name: 'toplevel', reason: expect.stringContaining('1.9') }]);
      return;
    }
    const nested = (await list('toplevel=false')).statements;
    // plpgsql keeps the statement's layout, less its INTO clause.
    expect(nested.map((s: any) => s.query.replace(/\s+/g, ' '))).toEqual(['select count(*) from items where v >= $1']);
    expect(nested[0].toplevel).toBe(false);
    expect((await list('toplevel=true&user=stmt_runner')).statements).toHaveLength(5);
  });

  it("leaves pgscope's own statements out unless asked", async () => {
    await api.get(`${URL}?database=${db.name}`);
    const own = await list('user=pgscope_monitor&excludeSelf=false&limit=1000');
    expect(own.statements.some((s: any) => s.query.includes('/* pgscope */'))).toBe(true);
    const excluded = await list('user=pgscope_monitor&limit=1000');
    expect(excluded.statements.filter((s: any) => /\/\* pgscope \*\/|^begin read only|^commit/i.test(s.query))).toEqual(
      [],
    );
    expect(excluded.totals.statements).toBeLessThan(own.totals.statements);
  });

  it('never resets statistics as a side effect', async () => {
    const before = await list('user=stmt_runner&limit=1000');
    await list('user=stmt_runner&limit=1000');
    const after = await list('user=stmt_runner&limit=1000');
    expect(after.totals.calls).toBe(before.totals.calls);
    expect(after.statsReset).toBe(before.statsReset);
  });

  it('shows a role without pg_monitor the numbers but not the texts of others, and says why', async () => {
    await db.admin.unsafe(`drop role if exists stmt_plain; create role stmt_plain login password 'plain'`);
    const plain = await createTestApp(db.monitorUrl.replace(/\/\/[^@]+@/, '//stmt_plain:plain@'));
    try {
      const res = await plain.get(`${URL}?database=${db.name}&user=stmt_runner&orderBy=calls&limit=1000`);
      expect(res.status).toBe(200);
      expect(res.body.statements.map((s: any) => s.calls)).toEqual([7, 5, 3, 2, 2]);
      expect(res.body.statements.every((s: any) => s.query === null && s.queryId === null)).toBe(true);
      expect(res.body.meta.warnings).toContainEqual({
        code: 'INSUFFICIENT_PRIVILEGE',
        message: expect.stringContaining('hidden'),
        hint: 'GRANT pg_monitor TO stmt_plain;',
      });
    } finally {
      await plain.close();
    }
  });

  it('answers 503 with the exact fix when the extension is not created in the database', async () => {
    const bare = await TestDatabase.create({ extensions: [] });
    const bareApi = await createTestApp(bare.monitorUrl);
    try {
      const res = await bareApi.get(URL);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({
        code: 'PG_STAT_STATEMENTS_UNAVAILABLE',
        detail: `The pg_stat_statements extension is not created in database "${bare.name}".`,
        hint: expect.stringContaining('CREATE EXTENSION pg_stat_statements;'),
      });
    } finally {
      await bareApi.close();
      await bare.drop();
    }
  });

  it('answers 503 with the exact fix on a server started without the preload', async () => {
    const server = await EmbeddedPostgres.start({
      major: serverMajor(),
      settings: { shared_preload_libraries: '' },
    });
    const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe('create extension pg_stat_statements');
    await admin.end();
    const noPreload = await createTestApp(server.url());
    try {
      const res = await noPreload.get(URL);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        code: 'PG_STAT_STATEMENTS_UNAVAILABLE',
        detail: expect.stringContaining('shared_preload_libraries'),
        hint: expect.stringContaining('restart PostgreSQL'),
      });
      const overview = await noPreload.get(API);
      expect(overview.body.capabilities.pgStatStatements).toMatchObject({ installed: true, preloaded: false });
    } finally {
      await noPreload.close();
      await server.stop();
    }
  });

  rejectsInvalidParameters(() => api, URL, [
    ['limit=0', 'limit', 'must not be less than 1'],
    ['limit=1001', 'limit', 'must not be greater than 1000'],
    ['offset=-1', 'offset', 'must not be less than 0'],
    ['orderBy=cost', 'orderBy', 'must be one of: totalExecTime'],
    ['order=sideways', 'order', 'must be asc or desc'],
    ['queryId=12abc', 'queryId', 'must be a signed 64-bit integer'],
    ['queryId=99999999999999999999', 'queryId', 'must be a signed 64-bit integer'],
    // Just outside int64 (once a 500 from PostgreSQL's out-of-range error).
    ['queryId=9223372036854775808', 'queryId', 'must be a signed 64-bit integer'],
    ['queryId=-9223372036854775809', 'queryId', 'must be a signed 64-bit integer'],
    ['offset=', 'offset', 'must be an integer'],
    ['limit=0x10', 'limit', 'must be an integer'],
    ['limit=1e2', 'limit', 'must be an integer'],
    ['limit=5.0', 'limit', 'must be an integer'],
    ['limit=%2B5', 'limit', 'must be an integer'],
    ['minCalls=%205', 'minCalls', 'must be an integer'],
    ['minCalls=-1', 'minCalls', 'must not be less than 0'],
    ['toplevel=yes', 'toplevel', 'must be true or false'],
    ['excludeSelf=0', 'excludeSelf', 'must be true or false'],
    ['search=', 'search', 'must be 1 to 1000 characters'],
    ['search=' + 'x'.repeat(1001), 'search', 'must be 1 to 1000 characters'],
    ['sort=calls', 'sort', 'is not a parameter'],
  ]);
});
