import {
  API,
  createTestApp,
  serverMajor,
  TestApp,
  TestDatabase,
  waitFor,
  rejectsInvalidParameters,
  whileLocked,
} from './support/harness';

const URL = `${API}/indexes`;

describe('GET /indexes', () => {
  let db: TestDatabase;
  let api: TestApp;

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl);
    await db.admin.unsafe(`
      create table used (id int primary key, a int, b int, c int);
      insert into used select g, g % 100, g % 7, g from generate_series(1, 1000) g;
      create index used_a_idx on used (a);
      create index used_b_idx on used (b);
      create unique index used_c_uniq on used (c);
      create table dups (x int, y int);
      create index dups_x_1 on dups (x);
      create index dups_x_2 on dups (x);
      create index dups_x_desc on dups (x desc);
      create table red (a int, b int, t text);
      create index red_a on red (a);
      create index red_ab on red (a, b);
      create index red_t_hash on red using hash (t);
      create index red_t on red (t);
      create table look (a int, t text);
      create index look_a on look (a);
      create index look_a_partial on look (a) where a > 0;
      create index look_lower on look (lower(t));
      create index look_upper on look (upper(t));
      create table pkdup (id int primary key);
      create index pkdup_id on pkdup (id);
      create table inv (v int);
      insert into inv values (1), (1);
      create table seqonly (id int, payload text);
      insert into seqonly select g, 'row ' || g from generate_series(1, 20000) g;
      analyze seqonly;
      create table parts (id int, k int) partition by range (id);
      create table parts_1 partition of parts for values from (0) to (1000);
      create table parts_2 partition of parts for values from (1000) to (2000);
      insert into parts select g, g from generate_series(0, 1999) g;
      create index parts_k_idx on parts (k);
      create schema other;
      create table other.elsewhere (id int primary key);
      create table lockme (id int primary key, v text);
      insert into lockme select g, 'x' from generate_series(1, 100) g;`);
    // An invalid index: CREATE UNIQUE INDEX CONCURRENTLY that fails on duplicate values leaves it behind.
    await db.admin.unsafe('create unique index concurrently inv_v_uniq on inv (v)').catch(() => undefined);
    const reader = await db.session();
    await reader.sql.unsafe('set enable_seqscan = off; set enable_bitmapscan = off');
    for (let i = 0; i < 5; i++) await reader.sql`select * from used where a = ${i}`;
    for (let i = 0; i < 3; i++) await reader.sql`select count(*) from seqonly`;
    await reader.sql`select count(*) from parts`;
    await reader.close();
    // Wait until the statistics system has the scans (13/14: the collector; 15+: flushed at most every second).
    await waitFor(async () => {
      const [row] = await db.admin`
        select pg_stat_get_numscans('used_a_idx'::regclass) >= 5 and pg_stat_get_numscans('seqonly'::regclass) >= 3
               and pg_stat_get_live_tuples('seqonly'::regclass) = 20000 as ready`;
      return row.ready;
    }, 15_000);
  });

  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  const get = async (query = '') => {
    const res = await api.get(`${URL}?limit=1000&${query}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const index = (body: any, name: string) => body.indexes.find((i: any) => i.index === name);
  const table = (body: any, name: string) => body.tables.find((t: any) => t.table === name);

  it('counts the scans of a used index and does not call it unused', async () => {
    const body = await get();
    const [size] = await db.admin`select pg_relation_size('used_a_idx')::int8 as bytes`;
    expect(index(body, 'used_a_idx')).toEqual({
      schema: 'public',
      table: 'used',
      index: 'used_a_idx',
      indexType: 'btree',
      definition: 'CREATE INDEX used_a_idx ON public.used USING btree (a)',
      sizeBytes: Number(size.bytes),
      scans: expect.any(Number),
      tuplesRead: expect.any(Number),
      tuplesFetched: expect.any(Number),
      lastScan: serverMajor() >= 16 ? expect.any(String) : null,
      isUnique: false,
      isPrimary: false,
      isConstraint: false,
      isPartial: false,
      isValid: true,
      unused: false,
      duplicateOf: null,
      redundantWith: null,
      bloat: expect.objectContaining({ method: 'estimate' }),
      sizeGrowthBytes: null,
    });
    expect(index(body, 'used_a_idx').scans).toBeGreaterThanOrEqual(5);
    expect(index(body, 'used_a_idx').tuplesRead).toBeGreaterThanOrEqual(50);
  });

  it('calls a never-used index unused, but not a unique index or a primary key', async () => {
    const body = await get();
    expect(index(body, 'used_b_idx')).toMatchObject({ scans: 0, unused: true });
    expect(index(body, 'used_c_uniq')).toMatchObject({ scans: 0, isUnique: true, isConstraint: false, unused: false });
    expect(index(body, 'used_pkey')).toMatchObject({ isPrimary: true, isConstraint: true, unused: false });
  });

  it('finds duplicates from pg_index, and never calls a primary key the removable one', async () => {
    const body = await get();
    expect(index(body, 'dups_x_1').duplicateOf).toBeNull();
    expect(index(body, 'dups_x_2').duplicateOf).toBe('dups_x_1');
    // Same column, other sort order (indoption): not a duplicate.
    expect(index(body, 'dups_x_desc').duplicateOf).toBeNull();
    expect(index(body, 'pkdup_pkey').duplicateOf).toBeNull();
    expect(index(body, 'pkdup_id').duplicateOf).toBe('pkdup_pkey');
    // Look-alikes that are not duplicates: partial vs full, lower() vs upper().
    for (const name of ['look_a', 'look_a_partial', 'look_lower', 'look_upper']) {
      expect(index(body, name)).toMatchObject({ duplicateOf: null, redundantWith: null });
    }
    expect(index(body, 'look_a_partial').isPartial).toBe(true);
  });

  it('finds a btree (a) made redundant by (a, b), and leaves hash indexes out', async () => {
    const body = await get();
    expect(index(body, 'red_a').redundantWith).toBe('red_ab');
    expect(index(body, 'red_ab').redundantWith).toBeNull();
    expect(index(body, 'red_t_hash')).toMatchObject({ indexType: 'hash', redundantWith: null, duplicateOf: null });
    expect(index(body, 'red_t').redundantWith).toBeNull();
  });

  it('reports an index left invalid by a failed CREATE UNIQUE INDEX CONCURRENTLY', async () => {
    const body = await get();
    expect(index(body, 'inv_v_uniq')).toMatchObject({ isValid: false, isUnique: true });
    expect(body.summary.invalidIndexes).toBe(1);
  });

  it('flags a large table read only by sequential scans as needing an index', async () => {
    // Sizes read on both sides of the answer: autovacuum (naptime 1 s here) may add a visibility map or free space
    // map page in between; the answer must equal one of the two readings.
    const sizes = async () => {
      const [size] = await db.admin`
        select pg_relation_size('seqonly')::int8 as heap, pg_total_relation_size('seqonly')::int8 as total`;
      return { heap: Number(size.heap), total: Number(size.total) };
    };
    const before = await sizes();
    const body = await get();
    const after = await sizes();
    const seqonly = table(body, 'seqonly');
    expect([before.heap, after.heap]).toContain(seqonly.sizeBytes);
    expect([before.total, after.total]).toContain(seqonly.totalSizeBytes);
    expect(seqonly).toMatchObject({
      schema: 'public',
      kind: 'table',
      partitionOf: null,
      partitions: null,
      liveTuples: 20000,
      deadTuples: 0,
      indexScans: null,
      indexScanRatio: 0,
      needsIndex: true,
      lastAnalyze: expect.any(String),
    });
    expect(table(body, 'seqonly').seqScans).toBeGreaterThanOrEqual(3);
    expect(table(body, 'seqonly').seqTuplesRead).toBeGreaterThanOrEqual(60000);
    const used = table(body, 'used');
    expect(used.needsIndex).toBe(false);
    expect(used.indexScanRatio).toBeCloseTo(used.indexScans / (used.seqScans + used.indexScans), 12);
  });

  it('shows each partition, and the parent with their sums', async () => {
    const body = await get();
    const p1 = table(body, 'parts_1');
    const p2 = table(body, 'parts_2');
    expect(p1).toMatchObject({ kind: 'table', partitionOf: 'parts', partitions: null });
    const parent = table(body, 'parts');
    expect(parent).toMatchObject({
      kind: 'partitioned',
      partitions: 2,
      partitionOf: null,
      sizeBytes: p1.sizeBytes + p2.sizeBytes,
      totalSizeBytes: p1.totalSizeBytes + p2.totalSizeBytes,
      liveTuples: p1.liveTuples + p2.liveTuples,
      seqScans: p1.seqScans + p2.seqScans,
    });
    // A partitioned index is never scanned itself: it shows the scans of its partitions' indexes.
    const partIdx = index(body, 'parts_k_idx');
    expect(partIdx).toMatchObject({ table: 'parts', indexType: 'btree' });
    expect(partIdx.scans).toBe(index(body, 'parts_1_k_idx').scans + index(body, 'parts_2_k_idx').scans);
    expect(partIdx.sizeBytes).toBe(index(body, 'parts_1_k_idx').sizeBytes + index(body, 'parts_2_k_idx').sizeBytes);
  });

  it('summarises every index in scope', async () => {
    const { body } = await api.get(`${URL}?limit=1`);
    expect(body.indexes).toHaveLength(1);
    const [expected] = await db.admin`
      select count(*)::int as n, sum(pg_relation_size(i.indexrelid))::int8 as bytes
        from pg_index i join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace
       where n.nspname in ('public', 'other')`;
    expect(body.summary).toMatchObject({
      indexes: expected.n,
      totalIndexBytes: Number(expected.bytes),
      invalidIndexes: 1,
    });
    expect(body.summary.duplicateIndexes).toBe(2);
    const unused = await get('unused=true');
    expect(body.summary.unusedIndexes).toBe(unused.indexes.length);
    // Partitioned indexes show their partitions' bytes, which the summary counts once.
    const leafUnused = unused.indexes.filter((i: any) => i.table !== 'parts');
    expect(body.summary.unusedIndexBytes).toBe(leafUnused.reduce((n: number, i: any) => n + i.sizeBytes, 0));
    expect(body.statsAgeSeconds === null || body.statsAgeSeconds >= 0).toBe(true);
  });

  describe('filters and ordering', () => {
    const names = (list: any[], key = 'index') => list.map((x) => x[key]);

    it('unused, invalid and duplicate', async () => {
      const unused = await get('unused=true');
      expect(unused.indexes.every((i: any) => i.unused)).toBe(true);
      expect(names(unused.indexes)).toContain('used_b_idx');
      expect(names(unused.indexes)).not.toContain('used_a_idx');
      expect(names((await get('invalid=true')).indexes)).toEqual(['inv_v_uniq']);
      expect(names((await get('duplicate=true&orderBy=name&order=asc')).indexes)).toEqual(['dups_x_2', 'pkdup_id']);
      expect((await get('duplicate=false')).indexes.every((i: any) => i.duplicateOf === null)).toBe(true);
    });

    it('schema and table', async () => {
      const other = await get('schema=other');
      expect(names(other.indexes)).toEqual(['elsewhere_pkey']);
      expect(names(other.tables, 'table')).toEqual(['elsewhere']);
      const red = await get('table=red&orderBy=name&order=asc');
      expect(names(red.indexes)).toEqual(['red_a', 'red_ab', 'red_t', 'red_t_hash']);
      expect(names(red.tables, 'table')).toEqual(['red']);
      expect(red.summary.indexes).toBe(4);
    });

    it('orderBy size, scans and name, both directions, with limit', async () => {
      const bySize = (await get('orderBy=size')).indexes.map((i: any) => i.sizeBytes);
      expect(bySize).toEqual([...bySize].sort((a, b) => b - a));
      const byScans = (await get('orderBy=scans')).indexes.map((i: any) => i.scans);
      expect(byScans).toEqual([...byScans].sort((a, b) => b - a));
      const byName = (await get('orderBy=name&order=asc')).indexes.map((i: any) =>
        [i.schema, i.table, i.index].join('.'),
      );
      expect(byName).toEqual([...byName].sort());
      const tablesBySize = (await get('orderBy=size')).tables.map((t: any) => t.totalSizeBytes);
      expect(tablesBySize).toEqual([...tablesBySize].sort((a, b) => b - a));
      expect((await api.get(`${URL}?limit=2&orderBy=size`)).body.tables[0].table).toBe('seqonly');
      const limited = await api.get(`${URL}?limit=3`);
      expect(limited.body.indexes).toHaveLength(3);
      expect(limited.body.tables).toHaveLength(3);
    });
  });

  it('answers while a table is under an ACCESS EXCLUSIVE lock, with its sizes null and the table named', async () => {
    const body = await whileLocked(db, 'lockme', () => get());
    expect(table(body, 'lockme')).toMatchObject({ sizeBytes: null, totalSizeBytes: null });
    expect(index(body, 'lockme_pkey')).toMatchObject({ sizeBytes: null, definition: null, isPrimary: true });
    expect(table(body, 'used').sizeBytes).toBeGreaterThan(0);
    expect(body.meta.warnings).toContainEqual({
      code: 'RELATION_LOCKED',
      message: expect.stringContaining('public.lockme'),
      hint: expect.any(String),
    });
  });

  rejectsInvalidParameters(() => api, URL, [
    ['limit=0', 'limit', 'must not be less than 1'],
    ['limit=5000', 'limit', 'must not be greater than 1000'],
    ['orderBy=rows', 'orderBy', 'must be one of: size, scans, name, bloat'],
    ['order=random', 'order', 'must be asc or desc'],
    ['unused=yes', 'unused', 'must be true or false'],
    ['invalid=1', 'invalid', 'must be true or false'],
    ['duplicate=', 'duplicate', 'must be true or false'],
    ['schema=', 'schema', 'must be 1 to 128 characters'],
    ['index=x', 'index', 'is not a parameter'],
  ]);
});
