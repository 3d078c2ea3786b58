import { API, createTestApp, serverMajor, TestApp, TestDatabase } from './support/harness';

describe('GET /api/db/monitoring/postgres (overview)', () => {
  let db: TestDatabase;
  let api: TestApp;

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl);
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  it('describes the server as the catalog does', async () => {
    const res = await api.get(API);
    expect(res.status).toBe(200);
    const [expected] = await db.admin`
      select current_setting('server_version_num')::int as num, current_setting('server_version') as version,
             pg_postmaster_start_time() as started, pg_database_size(current_database())::int8 as size,
             current_setting('max_connections')::int as max_connections`;
    const body = res.body;
    expect(body.version).toBe(expected.version);
    expect(body.versionNum).toBe(expected.num);
    expect(Math.floor(body.versionNum / 10000)).toBe(serverMajor());
    expect(new Date(body.startedAt).getTime()).toBe(new Date(expected.started).getTime());
    expect(body.uptimeSeconds).toBeGreaterThan(0);
    expect(body.currentDatabase).toBe(db.name);
    expect(body.currentUser).toBe('pgscope_monitor');
    // The size moves by at most a few pages between the two reads.
    expect(Math.abs(body.databaseSizeBytes - Number(expected.size))).toBeLessThan(1024 * 1024);
    expect(body.maxConnections).toBe(expected.max_connections);
    expect(body.isInRecovery).toBe(false);
    expect(body.meta).toEqual({
      collectedAt: expect.any(String),
      serverVersion: expected.version.split(' ')[0],
      durationMs: expect.any(Number),
      cached: false,
      ageMs: 0,
      warnings: [],
      window: null,
    });
  });

  it('reports capabilities: extensions with version and schema, preload, privileges', async () => {
    const { body } = await api.get(API);
    const exts = await db.admin<
      { extname: string; extversion: string }[]
    >`select extname, extversion from pg_extension`;
    const version = (name: string) => exts.find((e) => e.extname === name)?.extversion;
    expect(body.capabilities).toEqual({
      pgStatStatements: { installed: true, preloaded: true, version: version('pg_stat_statements'), schema: 'public' },
      pgstattuple: { installed: true, version: version('pgstattuple'), schema: 'public' },
      pgBuffercache: { installed: true, version: version('pg_buffercache'), schema: 'public' },
      pgMonitor: true,
      superuser: false,
    });
  });

  it('reports the settings that change what other endpoints can show', async () => {
    const { body } = await api.get(API);
    expect(body.settings).toEqual({
      trackIoTiming: true,
      trackActivityQuerySize: 1024,
      computeQueryId: serverMajor() >= 14 ? 'auto' : null,
    });
  });

  it('names what is missing when pg_stat_statements is not created in the database', async () => {
    const bare = await TestDatabase.create({ extensions: [] });
    const bareApi = await createTestApp(bare.monitorUrl);
    try {
      const { status, body } = await bareApi.get(API);
      expect(status).toBe(200);
      expect(body.capabilities.pgStatStatements).toEqual({
        installed: false,
        preloaded: true,
        version: null,
        schema: null,
      });
      expect(body.meta.warnings).toEqual([
        {
          code: 'EXTENSION_MISSING',
          message: expect.stringContaining('pg_stat_statements is not created'),
          hint: 'CREATE EXTENSION pg_stat_statements;',
        },
      ]);
    } finally {
      await bareApi.close();
      await bare.drop();
    }
  });

  it('finds an extension in a schema other than public', async () => {
    const other = await TestDatabase.create({ extensions: [] });
    await other.admin.unsafe('create schema extensions; create extension pgstattuple schema extensions');
    const otherApi = await createTestApp(other.monitorUrl);
    try {
      const { body } = await otherApi.get(API);
      expect(body.capabilities.pgstattuple).toEqual({
        installed: true,
        version: expect.any(String),
        schema: 'extensions',
      });
    } finally {
      await otherApi.close();
      await other.drop();
    }
  });

  it('tells a role without pg_monitor what it cannot see and the GRANT that fixes it', async () => {
    await db.admin.unsafe(`drop role if exists pgscope_plain; create role pgscope_plain login password 'plain'`);
    const plainApi = await createTestApp(db.monitorUrl.replace(/\/\/[^@]+@/, '//pgscope_plain:plain@'));
    try {
      const { status, body } = await plainApi.get(API);
      expect(status).toBe(200);
      expect(body.capabilities.pgMonitor).toBe(false);
      expect(body.meta.warnings).toContainEqual({
        code: 'INSUFFICIENT_PRIVILEGE',
        message: expect.stringContaining('pgscope_plain'),
        hint: 'GRANT pg_monitor TO pgscope_plain;',
      });
    } finally {
      await plainApi.close();
    }
  });
});
