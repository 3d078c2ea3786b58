import {
  API,
  around,
  createTestApp,
  flushStats,
  settled,
  TestApp,
  TestDatabase,
  waitFor,
  rejectsInvalidParameters,
  whileLocked,
} from './support/harness';

const URL = `${API}/cache`;

describe('GET /cache', () => {
  let db: TestDatabase;
  let api: TestApp;

  /** The raw counters of pg_statio_user_tables, read by the test itself. */
  const raw = async (table: string) => {
    const [row] = await db.admin`
      select heap_blks_hit::int8 as hit, heap_blks_read::int8 as read, idx_blks_hit::int8 as ihit,
             idx_blks_read::int8 as iread, toast_blks_hit::int8 as thit, toast_blks_read::int8 as tread
        from pg_statio_user_tables where relname = ${table}`;
    return {
      hit: Number(row.hit),
      read: Number(row.read),
      ihit: row.ihit === null ? null : Number(row.ihit),
      iread: row.iread === null ? null : Number(row.iread),
      thit: row.thit === null ? null : Number(row.thit),
      tread: row.tread === null ? null : Number(row.tread),
    };
  };

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl);
    // Autovacuum off: its reads would move the counters the tests compare with.
    await db.admin.unsafe(`
      create table hot (id int primary key, v text) with (autovacuum_enabled = false);
      insert into hot select g, 'v' || g from generate_series(1, 500) g;
      -- Larger than a quarter of shared_buffers (128MB), written (CREATE TABLE AS) and read through small buffer
      -- rings: its blocks are not kept in shared buffers, so reading it misses.
      create table cold with (autovacuum_enabled = false) as
        select g as id, repeat('x', 400) as pad from generate_series(1, 100000) g;
      create table never (id int) with (autovacuum_enabled = false);
      create table toasty (id int primary key, doc text)
        with (autovacuum_enabled = false, toast.autovacuum_enabled = false);
      alter table toasty alter column doc set storage external;
      insert into toasty select g, repeat(md5(g::text), 400) from generate_series(1, 50) g;
      create schema other;
      create table other.elsewhere (id int);
      insert into other.elsewhere values (1);`);
    const reader = await db.session();
    for (let i = 0; i < 100; i++) await reader.sql`select count(*) from hot`;
    for (let i = 0; i < 20; i++) await reader.sql`select v from hot where id = ${i + 1}`;
    await reader.sql`select count(*) from cold`;
    await reader.sql`select sum(length(doc)) from toasty`;
    // Both sessions' counts now, not when an idle backend gets round to it (up to 10 s later on 15+).
    await flushStats(reader.sql);
    await reader.close();
    await flushStats(db.admin);
    await waitFor(async () => (await raw('hot')).hit >= 100 && (await raw('cold')).read > 1000, 15_000);
    await settled(allRaw);
  });

  const allRaw = async () => ({ hot: await raw('hot'), cold: await raw('cold'), toasty: await raw('toasty') });

  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  const get = async (query = '') => {
    const res = await api.get(`${URL}?limit=1000&${query}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const perTable = (body: any, name: string) => body.perTable.find((t: any) => t.table === name);

  it('gives per-table counters equal to the raw ones, and ratios computed from them', async () => {
    // Settled counters, read before and after: equal when nothing moved, and the response must lie between.
    const [before, body, after] = await around(allRaw, get);
    for (const name of ['hot', 'cold', 'toasty'] as const) {
      const t = perTable(body, name);
      const [b, a] = [before[name], after[name]];
      expect(t.schema).toBe('public');
      for (const [field, key] of [
        ['heapBlksHit', 'hit'],
        ['heapBlksRead', 'read'],
        ['idxBlksHit', 'ihit'],
        ['idxBlksRead', 'iread'],
        ['toastBlksHit', 'thit'],
        ['toastBlksRead', 'tread'],
      ] as const) {
        if (b[key] === null) {
          expect([name, field, t[field]]).toEqual([name, field, null]);
          continue;
        }
        expect([name, field, t[field] >= b[key]! && t[field] <= a[key]!]).toEqual([name, field, true]);
      }
      expect(before).toEqual(after);
      const ratio = (hit: number | null, read: number | null) =>
        hit !== null && hit + (read ?? 0) > 0 ? hit / (hit + (read ?? 0)) : null;
      expect(t.heapHitRatio).toBe(ratio(t.heapBlksHit, t.heapBlksRead));
      expect(t.idxHitRatio).toBe(ratio(t.idxBlksHit, t.idxBlksRead));
    }
    expect(perTable(body, 'hot').heapStatus).toBe(perTable(body, 'hot').heapBlksHit >= 1000 ? 'good' : null);
    expect(perTable(body, 'hot').heapHitRatio).toBeGreaterThan(0.9);
    const cold = perTable(body, 'cold');
    expect(cold.heapBlksRead).toBeGreaterThan(1000);
    // Its writes (CREATE TABLE AS) count too; its one read through a small ring missed almost every block.
    expect(cold.heapHitRatio).toBeLessThan(0.9);
    expect(cold.heapStatus).toBe('critical');
    expect(cold.idxBlksHit).toBeNull();
    expect(cold.idxHitRatio).toBeNull();
    expect(perTable(body, 'toasty').toastHitRatio).not.toBeNull();
    const [size] = await db.admin`select pg_total_relation_size('cold')::int8 as bytes`;
    expect(cold.sizeBytes).toBe(Number(size.bytes));
  });

  it('gives null ratios and no status to a table never read', async () => {
    const never = perTable(await get(), 'never');
    expect(never).toEqual({
      schema: 'public',
      table: 'never',
      heapBlksHit: 0,
      heapBlksRead: 0,
      heapHitRatio: null,
      heapStatus: null,
      idxBlksHit: null,
      idxBlksRead: null,
      idxHitRatio: null,
      idxStatus: null,
      toastBlksHit: null,
      toastBlksRead: null,
      toastHitRatio: null,
      toastStatus: null,
      sizeBytes: 0,
    });
  });

  it('sums every user table, and judges the database and the cluster from pg_stat_database', async () => {
    const body = await get();
    const [sums] = await db.admin`
      select sum(heap_blks_hit)::int8 as hit, sum(heap_blks_read)::int8 as read from pg_statio_user_tables`;
    expect(body.tables.heapBlksHit).toBe(Number(sums.hit));
    expect(body.tables.heapBlksRead).toBe(Number(sums.read));
    expect(body.tables.heapHitRatio).toBe(Number(sums.hit) / (Number(sums.hit) + Number(sums.read)));
    const d = body.database;
    expect(d.name).toBe(db.name);
    expect(d.hitRatio).toBe(d.blksHit / (d.blksHit + d.blksRead));
    const [after] =
      await db.admin`select blks_hit::int8 as hit from pg_stat_database where datname = current_database()`;
    expect(d.blksHit).toBeLessThanOrEqual(Number(after.hit));
    expect(body.cluster.blksHit).toBeGreaterThanOrEqual(d.blksHit);
    expect(body.cluster.hitRatio).toBe(body.cluster.blksHit / (body.cluster.blksHit + body.cluster.blksRead));
    expect(['good', 'warning', 'critical']).toContain(body.cluster.status);
  });

  it('applies the configured thresholds and traffic minimum', async () => {
    const strict = await createTestApp(db.monitorUrl, {
      HIT_RATIO_GOOD: '1',
      HIT_RATIO_WARNING: '0.999999',
      HIT_RATIO_MIN_BLOCKS: '1',
    });
    try {
      const { body } = await strict.get(`${URL}?table=hot`);
      const hot = body.perTable[0];
      expect(hot.heapStatus).toBe(hot.heapBlksRead === 0 ? 'good' : 'critical');
      const lax = await createTestApp(db.monitorUrl, { HIT_RATIO_MIN_BLOCKS: '100000000' });
      try {
        expect((await lax.get(`${URL}?table=cold`)).body.perTable[0].heapStatus).toBeNull();
      } finally {
        await lax.close();
      }
    } finally {
      await strict.close();
    }
  });

  it('lists indexes with their own ratios', async () => {
    const rawIndex = async () =>
      (
        await db.admin`
        select idx_blks_hit::int8 as hit, idx_blks_read::int8 as read, pg_relation_size('hot_pkey')::int8 as size
          from pg_statio_user_indexes where indexrelname = 'hot_pkey'`
      )[0];
    const [r, body, after] = await around(rawIndex, get);
    expect(after).toEqual(r);
    const idx = body.perIndex.find((i: any) => i.index === 'hot_pkey');
    expect(idx).toEqual({
      schema: 'public',
      table: 'hot',
      index: 'hot_pkey',
      idxBlksHit: Number(r.hit),
      idxBlksRead: Number(r.read),
      hitRatio: Number(r.hit) / (Number(r.hit) + Number(r.read)),
      status: idx.status,
      sizeBytes: Number(r.size),
    });
  });

  it('shows what is in shared buffers where pg_buffercache is installed', async () => {
    const { body } = await api.get(`${URL}?limit=20`);
    const [settings] = await db.admin`select pg_size_bytes(current_setting('shared_buffers'))::int8 as bytes`;
    expect(body.buffers.sharedBuffersBytes).toBe(Number(settings.bytes));
    expect(body.buffers.usedBytes).toBeGreaterThan(0);
    expect(body.buffers.usedBytes).toBeLessThanOrEqual(body.buffers.sharedBuffersBytes);
    expect(body.buffers.dirtyBytes).toBeLessThanOrEqual(body.buffers.usedBytes);
    expect(body.buffers.relations.length).toBeGreaterThan(0);
    expect(body.buffers.relations.length).toBeLessThanOrEqual(20);
    const bytes = body.buffers.relations.map((r: any) => r.bufferedBytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
    for (const r of body.buffers.relations) {
      expect(r.bufferedBytes % 8192).toBe(0);
      if (r.cachedRatio !== null) expect(r.cachedRatio).toBeGreaterThan(0);
      if (r.cachedRatio !== null) expect(r.cachedRatio).toBeLessThanOrEqual(1);
    }
    expect(body.meta.warnings).toEqual([]);
  });

  it('answers with buffers null and a warning where pg_buffercache is not installed', async () => {
    const bare = await TestDatabase.create({ extensions: [] });
    const bareApi = await createTestApp(bare.monitorUrl);
    try {
      const res = await bareApi.get(URL);
      expect(res.status).toBe(200);
      expect(res.body.buffers).toBeNull();
      expect(res.body.meta.warnings).toEqual([
        {
          code: 'EXTENSION_MISSING',
          message: expect.stringContaining('pg_buffercache'),
          hint: 'CREATE EXTENSION pg_buffercache;',
        },
      ]);
      // Created while pgscope runs: the next request uses it, not the one after the facts are refreshed.
      await bare.admin.unsafe('create extension pg_buffercache');
      const now = await bareApi.get(URL);
      expect(now.body.buffers).not.toBeNull();
      expect(now.body.meta.warnings).toEqual([]);
      const overview = await bareApi.get(API);
      expect(overview.body.capabilities.pgBuffercache).toMatchObject({ installed: true, schema: 'public' });
    } finally {
      await bareApi.close();
      await bare.drop();
    }
  });

  it('answers with buffers null and the GRANT to a role that may not read pg_buffercache', async () => {
    await db.admin.unsafe(`drop role if exists cache_plain; create role cache_plain login password 'plain'`);
    const plain = await createTestApp(db.monitorUrl.replace(/\/\/[^@]+@/, '//cache_plain:plain@'));
    try {
      const res = await plain.get(`${URL}?table=hot`);
      expect(res.status).toBe(200);
      expect(res.body.buffers).toBeNull();
      expect(res.body.perTable).toHaveLength(1);
      expect(res.body.meta.warnings).toContainEqual({
        code: 'INSUFFICIENT_PRIVILEGE',
        message: expect.stringContaining('pg_buffercache'),
        hint: 'GRANT pg_monitor TO cache_plain;',
      });
    } finally {
      await plain.close();
    }
  });

  describe('filters and ordering', () => {
    const names = (body: any) => body.perTable.map((t: any) => t.table);

    it('schema, table and minReads', async () => {
      expect(names(await get('schema=other'))).toEqual(['elsewhere']);
      const hot = await get('table=hot');
      expect(names(hot)).toEqual(['hot']);
      expect(hot.perIndex.map((i: any) => i.index)).toEqual(['hot_pkey']);
      const busy = await get('minReads=1000');
      expect(names(busy)).toContain('cold');
      expect(names(busy)).not.toContain('never');
    });

    it('orderBy reads, hitRatio, size and name', async () => {
      const reads = (await get('orderBy=reads')).perTable.map(
        (t: any) => t.heapBlksRead + (t.idxBlksRead ?? 0) + (t.toastBlksRead ?? 0),
      );
      expect(reads[0]).toBe(Math.max(...reads));
      const ratios = (await get('orderBy=hitRatio&order=asc')).perTable.map((t: any) => t.heapHitRatio);
      const known = ratios.filter((r: any) => r !== null);
      expect(known).toEqual([...known].sort((a, b) => a - b));
      expect(ratios.slice(known.length).every((r: any) => r === null)).toBe(true);
      const sizes = (await get('orderBy=size')).perTable.map((t: any) => t.sizeBytes);
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
      expect(names(await get('orderBy=name&order=asc'))).toEqual(['elsewhere', 'cold', 'hot', 'never', 'toasty']);
      const limited = await api.get(`${URL}?limit=2`);
      expect(limited.body.perTable).toHaveLength(2);
    });
  });

  it('does not wait for a table under an ACCESS EXCLUSIVE lock, and names it', async () => {
    const body = await whileLocked(db, 'hot', () => get());
    expect(perTable(body, 'hot').sizeBytes).toBeNull();
    expect(perTable(body, 'cold').sizeBytes).toBeGreaterThan(0);
    expect(body.meta.warnings).toContainEqual({
      code: 'RELATION_LOCKED',
      message: expect.stringContaining('public.hot'),
      hint: expect.any(String),
    });
  });

  rejectsInvalidParameters(() => api, URL, [
    ['limit=0', 'limit', 'must not be less than 1'],
    ['limit=1001', 'limit', 'must not be greater than 1000'],
    ['orderBy=misses', 'orderBy', 'must be one of: hitRatio, reads, size, name'],
    ['order=up', 'order', 'must be asc or desc'],
    ['minReads=-1', 'minReads', 'must not be less than 0'],
    ['minReads=lots', 'minReads', 'must be an integer'],
    ['minReads=', 'minReads', 'must be an integer'],
    ['limit=1e1', 'limit', 'must be an integer'],
    ['table=', 'table', 'must be 1 to 128 characters'],
    ['databases=x', 'databases', 'is not a parameter'],
  ]);
});
