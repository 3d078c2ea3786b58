import { API, createTestApp, TestApp, TestDatabase, waitFor } from './support/harness';

/**
 * Sizes, whole-catalogue bloat estimates, the database size and pg_buffercache's view cost a visit to every
 * relation (or buffer): they are read at most once per SIZES_MAX_AGE_MS and served with their age, whatever the
 * number of requests; a relation created since is sized by the request that shows it.
 */
describe('costly figures at their own cadence (SIZES_MAX_AGE_MS)', () => {
  let db: TestDatabase;
  let api: TestApp;

  /** Executions of the catalogue-wide sizes query, from pg_stat_statements. */
  const sizeReads = async () => {
    const [row] = await db.admin`
      select coalesce(sum(calls), 0)::int as n from pg_stat_statements
       where query like '%pg_total_relation_size(r.oid)%' and query like '%parts_locked%'`;
    return row.n as number;
  };
  const size = async (relation: string) =>
    Number((await db.admin`select pg_relation_size(${relation}::regclass)::int8 as b`)[0].b);

  beforeAll(async () => {
    db = await TestDatabase.create();
    await db.admin.unsafe(`
      create table grow (id int primary key, v text);
      insert into grow select g, 'v' || g from generate_series(1, 1000) g;`);
    api = await createTestApp(db.monitorUrl, { SIZES_MAX_AGE_MS: '3600000' });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  it('reads sizes once for many requests, and serves them with their age', async () => {
    const before = await sizeReads();
    const first = (await api.get(`${API}/indexes?table=grow`)).body;
    const grownFrom = await size('grow');
    expect(first.tables[0].sizeBytes).toBe(grownFrom);
    await db.admin.unsafe(`insert into grow select g, 'v' || g from generate_series(1001, 20000) g`);
    for (let i = 0; i < 5; i++) {
      const again = (await api.get(`${API}/indexes?table=grow`)).body;
      expect(again.sizesCollectedAt).toBe(first.sizesCollectedAt);
      expect(again.tables[0].sizeBytes).toBe(grownFrom);
    }
    expect((await api.get(`${API}/cache?table=grow`)).body.sizesCollectedAt).toBe(first.sizesCollectedAt);
    expect(await sizeReads()).toBe(before + 1);
    expect(await size('grow')).toBeGreaterThan(grownFrom);
  });

  it('sizes and estimates a relation created since, in the request that shows it', async () => {
    await db.admin.unsafe(`
      create table newcomer (id int primary key, v text);
      insert into newcomer select g, 'v' || g from generate_series(1, 5000) g;
      analyze newcomer;`);
    await db.admin.unsafe('grant select on newcomer to pgscope_monitor');
    const body = (await api.get(`${API}/indexes?table=newcomer`)).body;
    expect(body.tables[0]).toMatchObject({ sizeBytes: await size('newcomer') });
    expect(body.tables[0].bloat).toMatchObject({ method: 'estimate', confidence: expect.any(String) });
    expect(body.tables[0].bloat.reclaimableBytes).not.toBeNull();
    expect(body.indexes[0]).toMatchObject({ index: 'newcomer_pkey', sizeBytes: await size('newcomer_pkey') });
    const cache = (await api.get(`${API}/cache?table=newcomer`)).body;
    const [total] = await db.admin`select pg_total_relation_size('newcomer')::int8 as b`;
    expect(cache.perTable[0].sizeBytes).toBe(Number(total.b));
  });

  it('refreshes in the background once they are older than the maximum age', async () => {
    const quick = await createTestApp(db.monitorUrl, { SIZES_MAX_AGE_MS: '500' });
    try {
      const first = (await quick.get(`${API}/indexes?table=grow`)).body;
      await db.admin.unsafe(`insert into grow select g, 'v' || g from generate_series(20001, 40000) g`);
      await new Promise((r) => setTimeout(r, 600));
      // The request that finds them stale is answered at once, with them; the refresh follows.
      const stale = (await quick.get(`${API}/indexes?table=grow`)).body;
      expect(stale.sizesCollectedAt).toBe(first.sizesCollectedAt);
      const fresh = await waitFor(async () => {
        const body = (await quick.get(`${API}/indexes?table=grow`)).body;
        return body.sizesCollectedAt !== first.sizesCollectedAt && body;
      });
      expect(fresh.tables[0].sizeBytes).toBe(await size('grow'));
    } finally {
      await quick.close();
    }
  });

  it('bloat=none answers usage only: no estimates, no reclaimable totals', async () => {
    const body = (await api.get(`${API}/indexes?bloat=none`)).body;
    expect(body.indexes.length).toBeGreaterThan(0);
    expect(body.indexes.every((i: any) => i.bloat === null)).toBe(true);
    expect(body.tables.every((t: any) => t.bloat === null)).toBe(true);
    expect(body.summary).toMatchObject({ reclaimableIndexBytes: null, reclaimableTableBytes: null });
    const res = await api.get(`${API}/indexes?bloat=none&orderBy=bloat`);
    expect(res.status).toBe(400);
    expect(res.body.invalidParams).toEqual([{ name: 'orderBy', reason: expect.stringContaining('bloat=none') }]);
  });

  it('serves the database size of the overview with its age', async () => {
    const first = (await api.get(API)).body;
    expect(first.databaseSizeBytes).toBeGreaterThan(0);
    const second = (await api.get(API)).body;
    expect(second.databaseSizeCollectedAt).toBe(first.databaseSizeCollectedAt);
  });
});
