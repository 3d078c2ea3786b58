import {
  API,
  createTestApp,
  serverMajor,
  Session,
  TestApp,
  TestDatabase,
  waitFor,
  waitUntilLockWait,
  rejectsInvalidParameters,
} from './support/harness';

const URL = `${API}/activity`;

describe('GET /activity', () => {
  let db: TestDatabase;
  let api: TestApp;
  // Chain 1: holder <- waiter <- waiterBehind (a waiter behind a waiter).
  let holder: Session;
  let waiter: Session;
  let waiterBehind: Session;
  // Chain 2, independent: holder2 <- waiterA, waiterB (several waiters on one holder).
  let holder2: Session;
  let waiterA: Session;
  let waiterB: Session;
  let sleeper: Session;
  let idle1: Session;
  let idle2: Session;
  const pending: Promise<unknown>[] = [];

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl);
    await db.admin.unsafe(`
      create table chain_a (id int primary key, v int); insert into chain_a values (1, 0);
      create table chain_b (id int primary key, v int); insert into chain_b values (1, 0);
      create table chain_c (id int primary key, v int); insert into chain_c values (1, 0);`);
    [holder, waiter, waiterBehind, holder2, waiterA, waiterB, sleeper, idle1, idle2] = await Promise.all([
      db.session({ applicationName: 'holder' }),
      db.session({ applicationName: 'waiter' }),
      db.session({ applicationName: 'waiter-behind' }),
      db.session({ applicationName: 'holder2' }),
      db.session({ applicationName: 'waiter-a' }),
      db.session({ applicationName: 'waiter-b' }),
      db.session({ applicationName: 'pgscope-test-sleeper' }),
      db.session({ applicationName: 'idle' }),
      db.session({ applicationName: 'idle' }),
    ]);
    // Chain 1: holder locks chain_a and idles in its transaction; waiter takes a row lock on chain_b, then waits
    // for chain_a; waiterBehind waits for waiter's row lock on chain_b.
    await holder.sql.unsafe('begin; lock table chain_a in access exclusive mode');
    await waiter.sql.unsafe('begin; update chain_b set v = v + 1 where id = 1');
    pending.push(waiter.sql`select * from chain_a`.execute().catch(() => undefined));
    await waitUntilLockWait(db.admin, waiter.pid);
    pending.push(waiterBehind.sql`update chain_b set v = v + 1 where id = 1`.execute().catch(() => undefined));
    await waitUntilLockWait(db.admin, waiterBehind.pid);
    // Chain 2.
    await holder2.sql.unsafe('begin; lock table chain_c in access exclusive mode');
    pending.push(waiterA.sql`select * from chain_c`.execute().catch(() => undefined));
    await waitUntilLockWait(db.admin, waiterA.pid);
    pending.push(waiterB.sql`insert into chain_c values (2, 0)`.execute().catch(() => undefined));
    await waitUntilLockWait(db.admin, waiterB.pid);
    // A long query whose text is longer than track_activity_query_size (1024 bytes).
    pending.push(
      sleeper.sql
        .unsafe(`select pg_sleep(60) /* ${'x'.repeat(2000)} */`)
        .execute()
        .catch(() => undefined),
    );
    await waitFor(async () => {
      const [row] = await db.admin`select state from pg_stat_activity where pid = ${sleeper.pid}`;
      return row?.state === 'active';
    });
  });

  afterAll(async () => {
    await api?.close();
    await db?.drop();
    await Promise.all(pending);
  });

  const sessionsOf = async (query: string) => {
    const res = await api.get(`${URL}?database=${db.name}&limit=1000&${query}`);
    expect(res.status).toBe(200);
    return res.body.sessions as any[];
  };
  const byPid = (sessions: any[], pid: number) => sessions.find((s) => s.pid === pid);

  it('shows each lock chain with exact blockers, blocked pids and counts', async () => {
    const sessions = await sessionsOf('');
    expect(byPid(sessions, holder.pid)).toMatchObject({
      state: 'idle in transaction',
      blockedBy: [],
      blocking: [waiter.pid],
      blockedCount: 2,
    });
    expect(byPid(sessions, waiter.pid)).toMatchObject({
      state: 'active',
      waitEventType: 'Lock',
      waitEvent: 'relation',
      blockedBy: [holder.pid],
      blocking: [waiterBehind.pid],
      blockedCount: 1,
    });
    expect(byPid(sessions, waiterBehind.pid)).toMatchObject({
      waitEventType: 'Lock',
      waitEvent: 'transactionid',
      blockedBy: [waiter.pid],
      blocking: [],
      blockedCount: 0,
    });
    expect(byPid(sessions, holder2.pid)).toMatchObject({
      blockedBy: [],
      blocking: [waiterA.pid, waiterB.pid].sort((a, b) => a - b),
      blockedCount: 2,
    });
    expect(byPid(sessions, waiterA.pid)).toMatchObject({ blockedBy: [holder2.pid], blocking: [], blockedCount: 0 });
    expect(byPid(sessions, waiterB.pid)).toMatchObject({ blockedBy: [holder2.pid], blocking: [], blockedCount: 0 });
    for (const idle of [idle1, idle2]) {
      expect(byPid(sessions, idle.pid)).toMatchObject({ state: 'idle', blockedBy: [], blocking: [], blockedCount: 0 });
    }
  });

  it('describes a session in full, with the documented types', async () => {
    const sessions = await sessionsOf('');
    const s = byPid(sessions, waiter.pid);
    const [expected] = await db.admin`
      select datname, usename, host(client_addr) as addr, client_port, backend_start, xact_start, query_start,
             backend_xid::text::int8 as xid, age(backend_xmin)::int8 as xmin_age
        from pg_stat_activity where pid = ${waiter.pid}`;
    expect(s).toEqual({
      pid: waiter.pid,
      leaderPid: null,
      database: db.name,
      user: expected.usename,
      applicationName: 'waiter',
      clientAddr: '127.0.0.1',
      clientPort: expected.client_port,
      backendType: 'client backend',
      state: 'active',
      waitEventType: 'Lock',
      waitEvent: 'relation',
      backendStart: expected.backend_start.toISOString(),
      transactionStart: expected.xact_start.toISOString(),
      queryStart: expected.query_start.toISOString(),
      stateChange: expect.any(String),
      queryDurationMs: expect.any(Number),
      transactionDurationMs: expect.any(Number),
      stateDurationMs: expect.any(Number),
      backendXid: Number(expected.xid),
      backendXminAge: expected.xmin_age === null ? null : Number(expected.xmin_age),
      // A session waiting on a lock has no query_id (PG-VERSIONS.md); 13 has no query_id at all.
      queryId: null,
      query: 'select * from chain_a',
      queryTruncated: false,
      blockedBy: [holder.pid],
      blocking: [waiterBehind.pid],
      blockedCount: 1,
    });
    expect(s.transactionDurationMs).toBeGreaterThanOrEqual(s.queryDurationMs);
  });

  it('reports the long query: duration grows, text cut at track_activity_query_size, query id on 14+', async () => {
    const first = byPid(await sessionsOf('application=pgscope-test-sleeper'), sleeper.pid);
    await new Promise((r) => setTimeout(r, 60));
    const second = byPid(await sessionsOf('application=pgscope-test-sleeper'), sleeper.pid);
    expect(first.state).toBe('active');
    expect(second.queryDurationMs).toBeGreaterThan(first.queryDurationMs);
    expect(second.queryDurationMs - first.queryDurationMs).toBeGreaterThanOrEqual(50);
    expect(first.queryTruncated).toBe(true);
    expect(Buffer.byteLength(first.query)).toBe(1023);
    expect(first.query.startsWith('select pg_sleep(60) /* xxx')).toBe(true);
    if (serverMajor() >= 14) expect(first.queryId).toMatch(/^-?\d+$/);
    else expect(first.queryId).toBeNull();
    // Idle sessions have no query duration, only a state duration.
    const idle = byPid(await sessionsOf('state=idle'), idle1.pid);
    expect(idle.queryDurationMs).toBeNull();
    expect(idle.stateDurationMs).toBeGreaterThanOrEqual(0);
    expect(idle.transactionDurationMs).toBeNull();
  });

  it('summarises every session of the server, not just the page', async () => {
    const res = await api.get(`${URL}?limit=1&application=nobody`);
    expect(res.status).toBe(200);
    expect(res.body.sessions).toEqual([]);
    const summary = res.body.summary;
    const [expected] = await db.admin`
      select count(*) filter (where backend_type = 'client backend')::int as total,
             count(*) filter (where backend_type = 'client backend' and state = 'idle in transaction')::int as iit,
             current_setting('max_connections')::int as max,
             current_setting('superuser_reserved_connections')::int
               + coalesce(current_setting('reserved_connections', true)::int, 0) as reserved
        from pg_stat_activity`;
    // The same server seen by the superuser a moment later: the admin's own query and pgscope's are the
    // only sessions that change state between the two reads.
    expect(summary.totalConnections).toBe(expected.total);
    expect(summary.maxConnections).toBe(expected.max);
    expect(summary.reservedConnections).toBe(expected.reserved);
    expect(summary.utilization).toBeCloseTo(expected.total / (expected.max - expected.reserved), 10);
    expect(summary.blockedSessions).toBe(4);
    expect(summary.byState).toContainEqual({ state: 'idle in transaction', count: expected.iit });
    expect(expected.iit).toBe(2);
    // Active: the four waiters, the sleeper, and pgscope's own collecting query.
    expect(summary.byState).toContainEqual({ state: 'active', count: 6 });
    expect(summary.byWaitEventType).toContainEqual({ waitEventType: 'Lock', count: 4 });
    const countSum = (list: { count: number }[]) => list.reduce((n, x) => n + x.count, 0);
    expect(countSum(summary.byState)).toBe(summary.totalConnections);
    expect(countSum(summary.byWaitEventType)).toBe(summary.totalConnections);
    expect(summary.longestQueryMs).toBeGreaterThan(0);
    expect(summary.longestTransactionMs).toBeGreaterThanOrEqual(summary.longestIdleInTransactionMs);
    expect(summary.longestIdleInTransactionMs).toBeGreaterThan(0);
    expect(summary.oldestBackendXminAge).toBeGreaterThanOrEqual(0);
  });

  describe('filters', () => {
    const pids = (sessions: any[]) => sessions.map((s) => s.pid).sort((a, b) => a - b);
    const sorted = (...list: number[]) => [...list].sort((a, b) => a - b);

    it('state (one or several, comma-separated or repeated)', async () => {
      expect(pids(await sessionsOf('state=idle%20in%20transaction'))).toEqual(sorted(holder.pid, holder2.pid));
      const several = pids(await sessionsOf('state=idle%20in%20transaction,active'));
      const repeated = pids(await sessionsOf('state=idle%20in%20transaction&state=active'));
      expect(several).toEqual(
        sorted(holder.pid, holder2.pid, waiter.pid, waiterBehind.pid, waiterA.pid, waiterB.pid, sleeper.pid),
      );
      expect(repeated).toEqual(several);
      expect((await sessionsOf('state=idle')).every((s) => s.state === 'idle')).toBe(true);
    });

    it('database, user and application', async () => {
      const all = await sessionsOf('');
      expect(all.every((s) => s.database === db.name)).toBe(true);
      expect(pids(await sessionsOf('application=waiter-a'))).toEqual([waiterA.pid]);
      expect(await sessionsOf('user=nobody_at_all')).toEqual([]);
      const res = await api.get(`${URL}?database=no_such_db`);
      expect(res.body.sessions).toEqual([]);
    });

    it('waiting, blocked and blocking', async () => {
      const waiters = sorted(waiter.pid, waiterBehind.pid, waiterA.pid, waiterB.pid);
      expect(pids(await sessionsOf('waiting=true'))).toEqual(waiters);
      expect(pids(await sessionsOf('blocked=true'))).toEqual(waiters);
      expect(pids(await sessionsOf('blocking=true'))).toEqual(sorted(holder.pid, waiter.pid, holder2.pid));
      expect(pids(await sessionsOf('blocked=false&blocking=true'))).toEqual(sorted(holder.pid, holder2.pid));
      const notWaiting = pids(await sessionsOf('waiting=false'));
      expect(notWaiting).toEqual(expect.arrayContaining([holder.pid, sleeper.pid, idle1.pid]));
      expect(notWaiting).not.toContain(waiter.pid);
    });

    it('minDurationMs keeps only active queries running at least that long', async () => {
      await new Promise((r) => setTimeout(r, 300));
      const long = await sessionsOf('minDurationMs=200');
      expect(long.every((s) => s.state === 'active' && s.queryDurationMs >= 200)).toBe(true);
      expect(pids(long)).toContain(sleeper.pid);
      expect(await sessionsOf('minDurationMs=3600000')).toEqual([]);
    });

    it("backendType: client backends by default, 'all' or one type on request", async () => {
      const res = await api.get(`${URL}?backendType=all&limit=1000`);
      const types = new Set(res.body.sessions.map((s: any) => s.backendType));
      expect(types.has('checkpointer')).toBe(true);
      expect(types.has('client backend')).toBe(true);
      const checkpointer = await api.get(`${URL}?backendType=checkpointer`);
      expect(checkpointer.body.sessions).toHaveLength(1);
      expect(checkpointer.body.sessions[0]).toMatchObject({ backendType: 'checkpointer', database: null });
      const clients = await api.get(`${URL}?limit=1000`);
      expect(clients.body.sessions.every((s: any) => s.backendType === 'client backend')).toBe(true);
    });

    it("excludeSelf: pgscope's own connections only on request", async () => {
      const own = await api.get(`${URL}?application=pgscope&excludeSelf=false`);
      expect(own.body.sessions.length).toBeGreaterThanOrEqual(1);
      expect(own.body.sessions.every((s: any) => s.applicationName === 'pgscope')).toBe(true);
      expect((await api.get(`${URL}?application=pgscope`)).body.sessions).toEqual([]);
    });

    it('orderBy and order, in SQL, with limit', async () => {
      const byDuration = await sessionsOf('state=active&orderBy=queryDuration');
      // waiter's query was the first of the staged queries to start.
      expect(byDuration[0].pid).toBe(waiter.pid);
      const durations = byDuration.map((s) => s.queryDurationMs);
      expect(durations).toEqual([...durations].sort((a, b) => b - a));
      const asc = await sessionsOf('state=active&orderBy=queryDuration&order=asc');
      expect(asc.map((s) => s.pid)).toEqual(byDuration.map((s) => s.pid).reverse());
      const byPidAsc = (await sessionsOf('orderBy=pid&order=asc')).map((s) => s.pid);
      expect(byPidAsc).toEqual([...byPidAsc].sort((a, b) => a - b));
      const byXact = await sessionsOf('orderBy=transactionDuration&state=idle%20in%20transaction,active');
      // holder opened its transaction first of all staged sessions.
      expect(byXact[0].pid).toBe(holder.pid);
      const byStart = (await sessionsOf('orderBy=backendStart&order=asc')).map((s) => s.backendStart);
      expect(byStart).toEqual([...byStart].sort());
      const limited = await api.get(`${URL}?database=${db.name}&limit=2&orderBy=pid`);
      expect(limited.body.sessions).toHaveLength(2);
    });
  });

  it('shows a role without pg_monitor the others’ sessions with query null, and says how to fix it', async () => {
    await db.admin.unsafe(`drop role if exists activity_plain; create role activity_plain login password 'plain'`);
    const plain = await createTestApp(db.monitorUrl.replace(/\/\/[^@]+@/, '//activity_plain:plain@'));
    try {
      const res = await plain.get(`${URL}?database=${db.name}&limit=1000`);
      expect(res.status).toBe(200);
      const hidden = res.body.sessions.find((s: any) => s.pid === sleeper.pid);
      expect(hidden).toMatchObject({ pid: sleeper.pid, query: null, queryTruncated: false, state: null });
      expect(res.body.meta.warnings).toEqual([
        {
          code: 'INSUFFICIENT_PRIVILEGE',
          message: expect.stringContaining('hidden'),
          hint: 'GRANT pg_monitor TO activity_plain;',
        },
      ]);
    } finally {
      await plain.close();
    }
  });

  rejectsInvalidParameters(() => api, URL, [
    ['limit=0', 'limit', 'must not be less than 1'],
    ['limit=1001', 'limit', 'must not be greater than 1000'],
    ['limit=ten', 'limit', 'must be an integer'],
    ['limit=1&limit=2', 'limit', 'must be an integer'],
    ['minDurationMs=', 'minDurationMs', 'must be an integer'],
    ['minDurationMs=5.0', 'minDurationMs', 'must be an integer'],
    ['application=' + 'a'.repeat(129), 'application', 'must be at most 128 characters'],
    [
      'state=active&state=idle&state=idle&state=idle&state=idle&state=idle&state=idle&state=idle',
      'state',
      'must contain no more than 7',
    ],
    ['state=sleeping', 'state', 'each value must be one of'],
    ['orderBy=cpu', 'orderBy', 'must be one of: queryDuration, transactionDuration, backendStart, pid'],
    ['order=up', 'order', 'must be asc or desc'],
    ['minDurationMs=-5', 'minDurationMs', 'must not be less than 0'],
    ['waiting=maybe', 'waiting', 'must be true or false'],
    ['blocked=1', 'blocked', 'must be true or false'],
    ['excludeSelf=no', 'excludeSelf', 'must be true or false'],
    ['backendType=%3Bdrop', 'backendType', "must be 'all'"],
    ['database=', 'database', 'must be 1 to 128 characters'],
    ['pids=1', 'pids', 'is not a parameter of this operation'],
  ]);
});
