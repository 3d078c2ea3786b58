import { API, createTestApp, serverMajor, TestApp, TestDatabase, flushStats, waitFor } from './support/harness';

const URL = `${API}/indexes`;

/** Truth: the bytes given back by rebuilding the same rows with the same fillfactor (indexes built after the load). */
async function truth(db: TestDatabase, table: string, ff: number, indexDef?: string) {
  await db.admin.unsafe(`
    drop table if exists truth_copy;
    create table truth_copy (like ${table}) with (fillfactor = ${ff});
    insert into truth_copy select * from ${table};
    ${indexDef ? `create index truth_copy_idx on truth_copy ${indexDef};` : ''}`);
  const [row] = await db.admin.unsafe(`
    select pg_relation_size('${table}')::int8 as heap, pg_relation_size('truth_copy')::int8 as heap_copy
           ${indexDef ? `, pg_relation_size('${table}_idx')::int8 as idx, pg_relation_size('truth_copy_idx')::int8 as idx_copy` : ''}`);
  await db.admin.unsafe('drop table truth_copy');
  const ratio = (size: number, copy: number) => Math.max(0, size - copy) / size;
  return {
    heap: ratio(Number(row.heap), Number(row.heap_copy)),
    index: indexDef ? ratio(Number(row.idx), Number(row.idx_copy)) : null,
  };
}

describe('bloat on /indexes', () => {
  let db: TestDatabase;
  let api: TestApp;

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl);
    await db.admin.unsafe(`
      create table fresh70 (id int, n bigint, label text) with (fillfactor = 70, autovacuum_enabled = false);
      insert into fresh70 select g, g * 10, 'label ' || g from generate_series(1, 20000) g;
      create table half (id int, n bigint, label text) with (autovacuum_enabled = false);
      insert into half select g, g * 10, 'label ' || g from generate_series(1, 40000) g;
      create index half_idx on half (id);
      delete from half where id % 2 = 0;
      create table stale (id int, label text) with (autovacuum_enabled = false);
      insert into stale select g, 'x' || g from generate_series(1, 20000) g;
      create table tiny (id int, label text);
      insert into tiny values (1, 'a');
      create table dedup (id int, status text) with (autovacuum_enabled = false);
      insert into dedup select g, 'status-' || (g % 4) from generate_series(1, 60000) g;
      create index dedup_idx on dedup (status);
      delete from dedup where id % 2 = 0;
      create table docs (id int, body jsonb);
      create index docs_gin on docs using gin (body);`);
    // The inserts and deletes must be counted before ANALYZE resets n_mod_since_analyze, or they look stale.
    await flushStats(db.admin);
    await waitFor(async () => {
      const [row] = await db.admin`select pg_stat_get_live_tuples('dedup'::regclass) = 30000 as ready`;
      return row.ready;
    }, 15_000);
    // VACUUM cannot run in the implicit transaction of a multi-statement string.
    await db.admin.unsafe('vacuum analyze fresh70, half, stale, tiny, dedup, docs');
    await db.admin.unsafe('delete from stale where id % 2 = 0');
    await flushStats(db.admin);
    await waitFor(async () => {
      const [row] = await db.admin`select pg_stat_get_mod_since_analyze('stale'::regclass) >= 10000 as ready`;
      return row.ready;
    }, 15_000);
  });

  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  const get = async (query: string, app = api) => {
    const res = await app.get(`${URL}?${query}`);
    expect(res.status).toBe(200);
    return res.body;
  };

  it('says the estimate is unavailable to a role that may not read the statistics, and names the grant', async () => {
    const body = await get('table=half');
    expect(body.tables[0].bloat).toEqual({
      method: 'estimate',
      reclaimableBytes: null,
      reclaimableRatio: null,
      freeInclFillfactorRatio: null,
      confidence: 'unavailable',
      reasons: ['stats_not_visible'],
      durationMs: null,
    });
    expect(body.meta.warnings).toContainEqual({
      code: 'STATS_HIDDEN',
      message: expect.stringContaining('pgscope_monitor'),
      hint: serverMajor() >= 14 ? expect.stringContaining('pg_read_all_data') : expect.stringContaining('GRANT SELECT'),
    });
  });

  describe('with the statistics readable (GRANT SELECT)', () => {
    beforeAll(async () => {
      await db.admin.unsafe('grant select on all tables in schema public to pgscope_monitor');
    });

    it('reads a fresh fillfactor-70 table as 0 % reclaimable, with the reserve as free space', async () => {
      const { tables } = await get('table=fresh70');
      const b = tables[0].bloat;
      const t = await truth(db, 'fresh70', 70);
      expect(t.heap).toBeLessThan(0.01);
      expect(b.confidence).toBe('high');
      expect(Math.abs(b.reclaimableRatio - t.heap)).toBeLessThanOrEqual(0.03);
      expect(b.freeInclFillfactorRatio).toBeGreaterThan(0.25);
    });

    it('estimates a half-deleted, vacuumed table and its btree within 3 points of the truth', async () => {
      const body = await get('table=half');
      const t = await truth(db, 'half', 100, '(id)');
      const heap = body.tables[0].bloat;
      const idx = body.indexes.find((i: any) => i.index === 'half_idx').bloat;
      expect(t.heap).toBeGreaterThan(0.4);
      expect(heap.confidence).toBe('high');
      expect(Math.abs(heap.reclaimableRatio - t.heap)).toBeLessThanOrEqual(0.03);
      expect(Math.abs(idx.reclaimableRatio - (t.index ?? 0))).toBeLessThanOrEqual(0.05);
      expect(body.summary.reclaimableTableBytes).toBe(heap.reclaimableBytes);
    });

    it('measures within 2 points of the truth, fillfactor-aware, and says how long it took', async () => {
      const body = await get('table=half&bloat=measured');
      const t = await truth(db, 'half', 100, '(id)');
      const heap = body.tables[0].bloat;
      expect(heap).toMatchObject({
        method: 'measured',
        confidence: 'high',
        reasons: [],
        durationMs: expect.any(Number),
      });
      expect(Math.abs(heap.reclaimableRatio - t.heap)).toBeLessThanOrEqual(0.02);
      const idx = body.indexes.find((i: any) => i.index === 'half_idx').bloat;
      expect(idx.method).toBe('measured');
      expect(Math.abs(idx.reclaimableRatio - (t.index ?? 0))).toBeLessThanOrEqual(0.03);
      const fresh = (await get('table=fresh70&bloat=measured')).tables[0].bloat;
      expect(fresh.reclaimableRatio).toBeLessThanOrEqual(0.02);
    });

    it('marks stale statistics, tiny relations and deduplicated btrees, and gives no figure for a GIN index', async () => {
      expect((await get('table=stale')).tables[0].bloat.reasons).toContain('stats_stale');
      const tiny = (await get('table=tiny')).tables[0].bloat;
      expect(tiny).toMatchObject({ confidence: 'low', reasons: ['too_small'] });
      const dedup = (await get('table=dedup')).indexes.find((i: any) => i.index === 'dedup_idx').bloat;
      expect(dedup.reasons).toContain('dedup_likely');
      expect(dedup.confidence).toBe('medium');
      const gin = (await get('table=docs')).indexes.find((i: any) => i.index === 'docs_gin');
      expect(gin.bloat).toBeNull();
    });

    it('makes a btree estimate low, not high, when its values were rewritten longer after ANALYZE', async () => {
      // Once 87.9 % at high confidence against a truth of 49.2 %: the key widths came from before the rewrite.
      await db.admin.unsafe(`
        create schema rewritten;
        create table rewritten.grown (id int, label text) with (autovacuum_enabled = false);
        insert into rewritten.grown select g, 'l' || g from generate_series(1, 40000) g;
        create index grown_idx on rewritten.grown (label);
        grant usage on schema rewritten to pgscope_monitor;
        grant select on rewritten.grown to pgscope_monitor;`);
      await flushStats(db.admin);
      await db.admin.unsafe('analyze rewritten.grown');
      await db.admin.unsafe(`update rewritten.grown set label = repeat('longer-', 6) || id`);
      await db.admin.unsafe('vacuum rewritten.grown');
      await flushStats(db.admin);
      await waitFor(async () => {
        const [row] =
          await db.admin`select pg_stat_get_mod_since_analyze('rewritten.grown'::regclass) >= 40000 as ready`;
        return row.ready;
      }, 15_000);
      const body = await get('schema=rewritten&table=grown');
      const t = await truth(db, 'rewritten.grown', 100, '(label)');
      const index = body.indexes.find((i: any) => i.index === 'grown_idx').bloat;
      expect(index).toMatchObject({ confidence: 'low', reasons: expect.arrayContaining(['stats_stale']) });
      expect(body.tables[0].bloat).toMatchObject({ confidence: 'low', reasons: ['stats_stale'] });
      // The figure is far off, which is why it must not claim more than low.
      expect(Math.abs(index.reclaimableRatio - (t.index ?? 0))).toBeGreaterThan(0.05);
    });

    it('orders by estimated reclaimable bytes', async () => {
      const body = await get('orderBy=bloat&limit=50&schema=public');
      const bytes = body.tables.map((t: any) => t.bloat?.reclaimableBytes ?? null);
      const known = bytes.filter((b: any) => b !== null);
      expect(known).toEqual([...known].sort((a, b) => b - a));
      expect(
        body.tables
          .slice(0, 2)
          .map((t: any) => t.table)
          .sort(),
      ).toEqual(['dedup', 'half']);
    });
  });

  it('serves the rest, with bloat figures null and the GRANT, to a role that may not run pgstattuple', async () => {
    await db.admin.unsafe(`drop role if exists bloat_plain; create role bloat_plain login password 'plain'`);
    const plain = await createTestApp(db.monitorUrl.replace(/\/\/[^@]+@/, '//bloat_plain:plain@'));
    try {
      const res = await plain.get(`${URL}?table=half&bloat=measured`);
      expect(res.status).toBe(200);
      // The figures are null, and the reason says why; usage, sizes and the index list are served.
      const unavailable = {
        method: 'estimate',
        confidence: 'unavailable',
        reasons: ['measure_failed'],
        reclaimableBytes: null,
        reclaimableRatio: null,
        freeInclFillfactorRatio: null,
        durationMs: null,
      };
      expect(res.body.tables.map((t: any) => [t.table, t.bloat])).toEqual([['half', unavailable]]);
      expect(res.body.tables[0].liveTuples).toBe(20000);
      expect(res.body.indexes.map((i: any) => [i.index, i.bloat])).toEqual([['half_idx', unavailable]]);
      expect(res.body.meta.warnings).toContainEqual({
        code: 'INSUFFICIENT_PRIVILEGE',
        message: 'Role "bloat_plain" may not run pgstattuple: measured bloat is unavailable.',
        hint: 'GRANT pg_stat_scan_tables TO bloat_plain; (or GRANT pg_monitor)',
      });
    } finally {
      await plain.close();
    }
  });

  it('bounds the measured mode: a table filter or limit ≤ 20, else 400 saying why', async () => {
    const res = await api.get(`${URL}?bloat=measured`);
    expect(res.status).toBe(400);
    expect(res.body.invalidParams).toEqual([{ name: 'bloat', reason: expect.stringContaining('limit ≤ 20') }]);
    expect((await api.get(`${URL}?bloat=measured&limit=20`)).status).toBe(200);
    expect((await api.get(`${URL}?bloat=sometimes`)).status).toBe(400);
  });

  it('says how to install pgstattuple when it is missing', async () => {
    const bare = await TestDatabase.create({ extensions: [] });
    await bare.admin.unsafe('create table t (id int)');
    const bareApi = await createTestApp(bare.monitorUrl);
    try {
      const res = await bareApi.get(`${URL}?table=t&bloat=measured`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        code: 'INVALID_PARAMETER',
        invalidParams: [{ name: 'bloat', reason: expect.stringContaining('pgstattuple') }],
        hint: expect.stringContaining('CREATE EXTENSION pgstattuple'),
      });
    } finally {
      await bareApi.close();
      await bare.drop();
    }
  });
});
