import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { API, createTestApp, flushStats, serverMajor, settled, TestApp, waitFor } from './support/harness';

/**
 * Maintenance against a watched server of its own (wal_level=logical for a slot, prepared transactions on, autovacuum
 * napping for an hour so it touches none of the staging): tables due for vacuum, analyze and freeze, every kind of
 * horizon holder, a VACUUM and a CREATE INDEX slowed down and caught in progress, a sequence near its end.
 */
describe('maintenance: /vacuum', () => {
  let watched: EmbeddedPostgres;
  let api: TestApp;
  let admin: postgres.Sql;
  const others: postgres.Sql[] = [];
  const margin = serverMajor() >= 14 ? 3_000_000 : 1_000_000;

  beforeAll(async () => {
    watched = await EmbeddedPostgres.start({
      major: serverMajor(),
      settings: { wal_level: 'logical', max_prepared_transactions: 5, autovacuum_naptime: 3600 },
    });
    admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe(`
      create table old_t (id int);
      alter table old_t set (autovacuum_freeze_max_age = 100000, autovacuum_enabled = false);
      create table dead_t (id int primary key, pad text) with (autovacuum_enabled = false);
      insert into dead_t select g, repeat('x', 100) from generate_series(1, 1000) g;
      create table tuned (id int primary key) with (autovacuum_enabled = false, autovacuum_vacuum_scale_factor = 0.01,
                                                     autovacuum_vacuum_threshold = 5);
      insert into tuned select generate_series(1, 1000);
      create sequence near_end as integer;
      select setval('near_end', 2040109465);
      create table big (id int, pad text) with (autovacuum_enabled = false);
      insert into big select g, repeat('y', 200) from generate_series(1, 20000) g;
      create function slow_id(int) returns int language plpgsql immutable as 'begin perform pg_sleep(0.01); return $1; end';`);
    // The inserts' counters reach the statistics before ANALYZE resets the changes since the last one.
    await flushStats(admin);
    await admin.unsafe('analyze dead_t');
    await admin.unsafe('analyze tuned');
    await admin.unsafe('delete from dead_t where id <= 600');
    await admin.unsafe('delete from tuned where id <= 20');
    // 100,000 transactions: old_t's relfrozenxid passes its own autovacuum_freeze_max_age.
    await admin.unsafe('set synchronous_commit = off');
    await burn(100_001);
    api = await createTestApp(watched.url());
  }, 180_000);

  afterAll(async () => {
    await Promise.all(others.map((s) => s.end({ timeout: 1 }).catch(() => undefined)));
    await admin?.end();
    await api?.close();
    await watched?.stop();
  });

  function burn(n: number) {
    return admin.unsafe(`do $$ begin for i in 1..${n} loop perform txid_current(); commit; end loop; end $$`);
  }
  const connect = (application: string, url = watched.url()) => {
    const sql = postgres(url, { max: 1, onnotice: () => undefined, connection: { application_name: application } });
    others.push(sql);
    return sql;
  };

  it('gives autovacuum’s own thresholds and verdict per table: vacuum, analyze, freeze, reloptions overriding', async () => {
    await flushStats(admin);
    const res = await settled(async () => {
      const r = await api.get(`${API}/vacuum?schema=public`);
      return r.body.tables.map((t: any) => [t.table, t.vacuum.value, t.analyze.value]);
    });
    expect(res.length).toBeGreaterThan(0);
    const { body, status } = await api.get(`${API}/vacuum?schema=public`);
    expect(status).toBe(200);
    const table = (name: string) => body.tables.find((t: any) => t.table === name);

    // 1000 rows analysed, 600 deleted: 600 > 50 + 0.2 × 1000 (vacuum) and > 50 + 0.1 × 1000 (analyze).
    expect(table('dead_t')).toMatchObject({
      autovacuumDue: 'vacuum',
      autovacuumEnabled: false,
      overrides: ['autovacuum_enabled=false'],
      reltuples: 1000,
      vacuum: { value: 600, threshold: 250, base: 50, scaleFactor: 0.2, due: true },
      analyze: { value: 600, threshold: 150, base: 50, scaleFactor: 0.1, due: true },
      insert: { value: 1000, threshold: 1200, base: 1000, scaleFactor: 0.2, due: false },
    });
    expect(table('dead_t').reason).toBe(
      'dead tuples 600 > threshold 250 (50 + 0.2 × 1000 reltuples); changes since the last analyze 600 > analyze ' +
        'threshold 150 (50 + 0.1 × 1000 reltuples); autovacuum_enabled=false on this table: only a forced freeze ' +
        'will run; VACUUM it yourself',
    );
    // The table's own scale factor and threshold: 20 dead > 5 + 0.01 × 1000.
    expect(table('tuned')).toMatchObject({
      autovacuumDue: 'vacuum',
      overrides: ['autovacuum_enabled=false', 'autovacuum_vacuum_scale_factor=0.01', 'autovacuum_vacuum_threshold=5'],
      vacuum: { value: 20, threshold: 15, base: 5, scaleFactor: 0.01, due: true },
    });
    // Its own autovacuum_freeze_max_age (lower than the server's) passed: a forced vacuum.
    expect(table('old_t').autovacuumDue).toBe('freeze');
    expect(table('old_t').freezeMaxAge).toBe(100000);
    expect(table('old_t').xidAge).toBeGreaterThan(100000);
    expect(table('old_t').reason).toMatch(/^age\(relfrozenxid\) \d+ > freeze max age 100000/);
    // Never vacuumed nor analysed (reltuples −1 counts as 0): 20,000 inserts > 1000 + 0.2 × 0.
    expect(table('big')).toMatchObject({
      autovacuumDue: 'vacuum',
      insert: { value: 20000, threshold: 1000, due: true },
      analyze: { value: 20000, threshold: 50, due: true },
    });
    // A forced freeze first, then the largest figure over its threshold.
    expect(body.tables.map((t: any) => t.table)).toEqual(['old_t', 'big', 'dead_t', 'tuned']);
    expect(body.tables.map((t: any) => t.urgency)).toEqual([expect.any(Number), 400, 4, expect.closeTo(20 / 15, 4)]);
  });

  it('gives every database’s distance to a forced vacuum and to the refusal of writes', async () => {
    const { body } = await api.get(`${API}/vacuum`);
    const [{ age, mage }] = await admin<{ age: number; mage: number }[]>`
      select age(datfrozenxid)::int8 as age, mxid_age(datminmxid)::int8 as mage
        from pg_database where datname = 'postgres'`;
    const db = body.databases.find((d: any) => d.name === 'postgres');
    expect(db.xid.age).toBe(Number(age));
    expect(db.xid.left).toBe(2 ** 31 - 1 - margin - Number(age));
    expect(db.xid.shareOfFreezeMaxAge).toBeCloseTo(Number(age) / 200_000_000, 4);
    expect(db.multixact.age).toBe(Number(mage));
    expect(body.databases.map((d: any) => d.name).sort()).toEqual(['postgres', 'template0', 'template1']);
    expect(body.databases.find((d: any) => d.name === 'template0').allowsConnections).toBe(false);
  });

  it('names every holder of the xmin horizon, the oldest first, each with the statement that releases it', async () => {
    await admin`select pg_create_logical_replication_slot('idle_slot', 'test_decoding')`;
    await burn(30);
    const preparer = await connect('preparer').reserve();
    await preparer`begin`;
    await preparer`insert into big values (0, 'p')`;
    await preparer`prepare transaction 'stuck_gid'`;
    preparer.release();
    await burn(30);
    const holder = await connect('forgotten').reserve();
    await holder`begin isolation level repeatable read`;
    const [{ pid }] = await holder<{ pid: number }[]>`select pg_backend_pid() as pid, txid_current()`;
    await burn(30);
    try {
      const { body } = await api.get(`${API}/vacuum`);
      const holders = body.horizon.holders;
      expect(holders.map((h: any) => h.kind)).toEqual(['replication_slot', 'prepared_transaction', 'session']);
      const [slot, prepared, session] = holders;
      expect(slot).toMatchObject({
        name: 'idle_slot',
        active: false,
        type: 'logical',
        database: 'postgres',
        xminAge: null,
        hint: "SELECT pg_drop_replication_slot('idle_slot');",
      });
      expect(slot.catalogXminAge).toBeGreaterThan(90);
      expect(body.horizon.oldestAge).toBe(slot.age);
      expect(prepared).toMatchObject({
        name: 'stuck_gid',
        user: 'postgres',
        database: 'postgres',
        hint: "ROLLBACK PREPARED 'stuck_gid'; (connected to database postgres, or COMMIT PREPARED if it must take effect)",
      });
      expect(prepared.xidAge).toBeGreaterThan(60);
      expect(prepared.ageMs).toBeGreaterThanOrEqual(0);
      expect(session).toMatchObject({
        pid,
        application: 'forgotten',
        state: 'idle in transaction',
        hint: `SELECT pg_terminate_backend(${pid});`,
      });
      expect(session.xidAge).toBeGreaterThanOrEqual(30);
      expect(slot.age).toBeGreaterThan(prepared.age);
      // The session's snapshot cannot be older than the prepared transaction, which is still running: its xmin is
      // that transaction's xid, its own xid younger.
      expect(session.xminAge).toBe(prepared.xidAge);
      expect(session.xidAge).toBeLessThan(prepared.xidAge);
    } finally {
      await holder`rollback`;
      holder.release();
      await admin`rollback prepared 'stuck_gid'`;
      await admin`select pg_drop_replication_slot('idle_slot')`;
    }
    const { body } = await api.get(`${API}/vacuum`);
    expect(body.horizon).toEqual({ oldestAge: 0, holders: [] });
  });

  /** Waits for `command` to have done some of its counter, then cancels it (it holds a lock the next needs). */
  async function caught(application: string, command: string, run: (sql: postgres.Sql) => Promise<unknown>) {
    const session = connect(application);
    const running = run(session).catch(() => undefined);
    try {
      return await waitFor(async () => {
        const { body } = await api.get(`${API}/vacuum`);
        // Some done, not all: a heap scan on its first block reports all of it done (heapam_scan_get_blocks_done).
        return body.progress.find((p: any) => p.command === command && p.done > 0 && p.done < p.total);
      }, 30_000);
    } finally {
      await admin`select pg_cancel_backend(pid) from pg_stat_activity where application_name = ${application}`;
      await running;
    }
  }

  it('shows a VACUUM and a CREATE INDEX in progress: phase, share of blocks, elapsed and ETA', async () => {
    const vacuum = await caught('slow-vacuum', 'VACUUM', async (sql) => {
      await sql`set vacuum_cost_delay = 100`;
      await sql`set vacuum_cost_limit = 1`;
      await sql`vacuum big`;
    });
    const [{ pages }] = await admin<{ pages: number }[]>`
      select (pg_relation_size('big') / current_setting('block_size')::int)::int as pages`;
    expect(vacuum).toMatchObject({
      relation: 'big',
      database: 'postgres',
      phase: 'scanning heap',
      unit: 'blocks',
      total: pages,
      application: 'slow-vacuum',
    });
    expect(vacuum.share).toBeCloseTo(vacuum.done / pages, 4);
    expect(vacuum.share).toBeLessThan(1);
    // At the rate so far: elapsed × (1 − share) / share.
    expect(vacuum.etaMs).toBeCloseTo((vacuum.elapsedMs * (pages - vacuum.done)) / vacuum.done, -1);

    const index = await caught('slow-index', 'CREATE INDEX', async (sql) => {
      await sql`set max_parallel_maintenance_workers = 0`;
      await sql`create index big_slow on big (slow_id(id))`;
    });
    expect(index).toMatchObject({
      relation: 'big',
      phase: 'building index: scanning table',
      unit: 'blocks',
      total: pages,
      application: 'slow-index',
    });
    expect(index.share).toBeGreaterThan(0);
    expect(index.etaMs).toBeGreaterThan(0);
  }, 90_000);

  it('gives sequences nearest their end, and says which it may not read and the GRANT that fixes it', async () => {
    const { body } = await api.get(`${API}/vacuum`);
    expect(body.sequences[0]).toMatchObject({
      schema: 'public',
      name: 'near_end',
      dataType: 'integer',
      lastValue: 2040109465,
      maxValue: 2147483647,
      readable: true,
      share: 0.95,
    });
    await admin.unsafe(`create role plain login password 'plain'; create sequence hidden_seq;`);
    const url = new URL(watched.url());
    url.username = 'plain';
    url.password = 'plain';
    const asPlain = await createTestApp(url.toString());
    try {
      const res = await asPlain.get(`${API}/vacuum`);
      expect(res.status).toBe(200);
      const hidden = res.body.sequences.find((s: any) => s.name === 'hidden_seq');
      expect(hidden).toMatchObject({ lastValue: null, readable: false, share: null });
      const w = res.body.meta.warnings.find((x: any) => x.message.includes('sequence'));
      expect(w.code).toBe('INSUFFICIENT_PRIVILEGE');
      expect(w.message).toContain('public.hidden_seq');
      expect(w.hint).toContain('GRANT SELECT ON SEQUENCE public.hidden_seq TO plain;');
    } finally {
      await asPlain.close();
    }
  });

  it('answers bad parameters with a 400 naming them, and an unknown database with a 404', async () => {
    for (const [query, param] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['schema=', 'schema'],
    ]) {
      const res = await api.get(`${API}/vacuum?${query}`);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain(param);
    }
    const res = await api.get(`${API}/vacuum?database=nope`);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('DATABASE_NOT_FOUND');
  });
});
