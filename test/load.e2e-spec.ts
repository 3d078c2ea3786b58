import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { HistoryCollector } from '../src/history/collector.service';
import { LoadSampler } from '../src/load/load.sampler';
import { TargetRegistry } from '../src/targets/registry';
import { API, createTestApp, serverMajor, TestApp, waitFor } from './support/harness';

const BUCKET_MS = 1000;

/**
 * Database load against a watched server of its own: sessions are staged in a known state (N running pg_sleep, K
 * blocked behind one idle-in-transaction holder), samples are driven through the sampler's own entry point while the
 * state holds, and the window asked is exactly the buckets sampled, so every average is exact.
 */
describe('load: sampled active sessions', () => {
  let watched: EmbeddedPostgres;
  let store: EmbeddedPostgres;
  let api: TestApp;
  let admin: postgres.Sql;
  const sessions: postgres.Sql[] = [];

  beforeAll(async () => {
    [watched, store] = await Promise.all([
      EmbeddedPostgres.start({ major: serverMajor(), settings: { shared_preload_libraries: 'pg_stat_statements' } }),
      EmbeddedPostgres.start({ major: serverMajor() }),
    ]);
    admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe(`
      create extension pg_stat_statements;
      create table accounts (id int primary key, balance int not null);
      insert into accounts select g, 0 from generate_series(1, 10) g;
      create table wide (id int, pad text);
      insert into wide select g, repeat('x', 500) from generate_series(1, 20000) g;`);
    await admin.unsafe('vacuum analyze wide');
    const storeSql = postgres(store.url(), { max: 1, onnotice: () => undefined });
    await storeSql.unsafe('create database history');
    await storeSql.end();
    api = await createTestApp(watched.url(), {
      HISTORY: 'on',
      HISTORY_DATABASE_URL: store.url('history'),
      HISTORY_STATEMENTS_INTERVAL: '1h',
      HISTORY_DATABASE_INTERVAL: '1h',
      HISTORY_RELATIONS_INTERVAL: '1h',
      HISTORY_SIZES_INTERVAL: '1h',
      LOAD_BUCKET_SECONDS: String(BUCKET_MS / 1000),
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.end({ timeout: 1 }).catch(() => undefined)));
    await admin?.end();
    await api?.close();
    await Promise.all([watched?.stop(), store?.stop()]);
  });

  // Whatever a test staged ends with it, passed or not.
  afterEach(() => calm());

  const sampler = () => api.app.get(LoadSampler);
  const target = () => api.app.get(TargetRegistry).get(undefined);
  const session = (application: string) => {
    const sql = postgres(watched.url(), {
      max: 1,
      onnotice: () => undefined,
      connection: { application_name: application },
    });
    sessions.push(sql);
    return sql;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const serverNow = () => Date.now() + (sampler().list()[0]?.offsetMs ?? 0);

  /**
   * Samples `count` times, 200 ms apart, then completes the last bucket with one sample of the next bucket (which
   * the window leaves out). Returns the window of exactly the buckets sampled, on the watched server's clock.
   */
  async function sampleWindow(count: number, midway?: () => Promise<unknown>): Promise<{ from: string; to: string }> {
    // A bucket of its own: none of an earlier sample's (that bucket may hold another staging).
    const previous = sampler().list()[0]?.lastAt?.getTime();
    if (previous !== undefined) {
      const next = Math.floor(previous / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
      while (serverNow() < next + 20) await sleep(20);
    }
    await sampler().sampleTarget(target());
    const first = sampler().list()[0].lastAt!.getTime();
    let aside: Promise<unknown> | undefined;
    for (let i = 1; i < count; i++) {
      await sleep(200);
      // Alongside the sampling, not in its way: every bucket of the window gets its samples.
      if (i === Math.floor(count / 2)) aside = midway?.();
      await sampler().sampleTarget(target());
    }
    await aside;
    const last = sampler().list()[0].lastAt!.getTime();
    const from = Math.floor(first / BUCKET_MS) * BUCKET_MS;
    const to = Math.floor(last / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
    while (serverNow() < to + 20) await sleep(20);
    await sampler().sampleTarget(target());
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  }

  /** Every session not ours cancelled, and no session of the staging left active. */
  async function calm(): Promise<void> {
    await admin`select pg_cancel_backend(pid) from pg_stat_activity
                 where pid <> pg_backend_pid() and backend_type = 'client backend'
                   and application_name in ('sleeper', 'waiter', 'parallel')`;
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'holder'`;
    await waitFor(async () => {
      const [row] = await admin<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
         where application_name in ('sleeper', 'waiter', 'parallel', 'holder') and state <> 'idle'`;
      return row.n === 0;
    });
  }

  it('counts N sleeping and K lock-blocked sessions exactly, by wait, application and statement, and records the chain', async () => {
    const N = 3;
    const K = 2;
    const sleepers = Array.from({ length: N }, () => session('sleeper'));
    // One call first: pg_stat_statements knows the statement (its queryId and text) before the staging.
    await sleepers[0]`select pg_sleep(0)`;
    const running = sleepers.map((s) => s`select pg_sleep(60)`.catch(() => undefined));
    const holder = session('holder');
    const reserved = await holder.reserve();
    const [{ pid: holderPid }] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await reserved`begin`;
    await reserved`lock table accounts in access exclusive mode`;
    await reserved`select 'secret-literal' as last_statement`;
    const waiters = Array.from({ length: K }, () => session('waiter'));
    const blocked = waiters.map((s) => s`select count(*) from accounts where balance > 0`.catch(() => undefined));
    await waitFor(async () => {
      const [row] = await admin<{ sleeping: number; locked: number }[]>`
        select count(*) filter (where wait_event = 'PgSleep' and application_name = 'sleeper')::int as sleeping,
               count(*) filter (where wait_event_type = 'Lock' and application_name = 'waiter')::int as locked
          from pg_stat_activity`;
      return row.sleeping === N && row.locked === K;
    });
    // Statement snapshots before and in the window: /load/top joins each statement's text and its calls in it.
    const statements = () => api.app.get(HistoryCollector).now!.collectNow('default', ['statements']);
    await statements();
    const { from, to } = await sampleWindow(10, statements);

    const byWait = await api.get(`${API}/load?from=${from}&to=${to}&step=1s&groupBy=waitEvent`);
    expect(byWait.status).toBe(200);
    const wait = Object.fromEntries(byWait.body.totals.groups.map((g: any) => [g.key, g.activeSessions]));
    expect(wait).toEqual({ 'Timeout:PgSleep': N, 'Lock:relation': K });
    expect(byWait.body.totals.activeSessions).toBe(N + K);
    expect(byWait.body.totals.idleInTransactionSessions).toBe(1);
    expect(byWait.body.totals.otherActiveSessions).toBe(0);
    expect(byWait.body.meta.window).toMatchObject({ from, to, gaps: [] });
    expect(byWait.body.stepSeconds).toBe(1);
    expect(byWait.body.maxConnections).toBe(100);
    expect(byWait.body.cpuCount).toBeNull();
    // Every bucket sampled holds the same state (one a loaded machine did not sample has null, never 0).
    const sampled = byWait.body.points.filter((p: any) => p.samples > 0);
    expect(sampled.length).toBeGreaterThan(0);
    for (const p of sampled) expect(p.activeSessions).toBe(N + K);
    // Covered: the buckets sampled, a second each.
    expect(byWait.body.meta.window.coveredSeconds).toBe(sampled.length);
    for (const p of byWait.body.points.filter((x: any) => x.samples === 0)) expect(p.activeSessions).toBeNull();

    const byType = await api.get(`${API}/load?from=${from}&to=${to}&groupBy=waitEventType`);
    expect(byType.body.totals.groups).toEqual([
      { key: 'Timeout', activeSessions: N },
      { key: 'Lock', activeSessions: K },
    ]);

    const byApp = await api.get(`${API}/load?from=${from}&to=${to}&groupBy=application`);
    expect(byApp.body.totals.groups).toEqual([
      { key: 'sleeper', activeSessions: N },
      { key: 'waiter', activeSessions: K },
    ]);

    const top = await api.get(`${API}/load/top?from=${from}&to=${to}&by=queryId`);
    expect(top.status).toBe(200);
    expect(top.body.activeSessions).toBe(N + K);
    const [first, second] = top.body.contributors;
    if (process.env.DEBUG_LOAD) {
      const h = postgres(store.url('history'), { max: 1 });
      console.log(
        JSON.stringify(await h`select queryid::text, query, first_seen from statement_texts`),
        JSON.stringify(await h`select * from snapshots`),
      );
      await h.end();
    }
    expect(first).toMatchObject({
      activeSessions: N,
      share: N / (N + K),
      waits: [{ waitEvent: 'Timeout:PgSleep', share: 1 }],
    });
    expect(second).toMatchObject({
      activeSessions: K,
      share: K / (N + K),
      waits: [{ waitEvent: 'Lock:relation', share: 1 }],
    });
    expect(first.query).toMatch(/pg_sleep/);
    expect(second.query).toMatch(/from accounts/);
    if (serverMajor() >= 14) {
      // The statement's own queryId, the one /statements gives.
      const [{ queryid }] = await admin<{ queryid: string }[]>`
        select queryid::text from pg_stat_statements where query like 'select pg_sleep%'`;
      expect(first.key).toBe(queryid);
      // Still running: no call ended in the window (the warm-up call was before it).
      expect(first).toMatchObject({ calls: 0, totalExecTimeMs: 0 });
    } else {
      // 13 has no query_id: the statement is its text, literals redacted.
      expect(first.key).toBe(first.query);
      expect(first.key).not.toMatch(/60/);
      expect(first.calls).toBeNull();
    }

    const locks = await api.get(`${API}/activity/locks?from=${from}&to=${to}`);
    expect(locks.status).toBe(200);
    expect(locks.body.chains).toHaveLength(1);
    const [chain] = locks.body.chains;
    expect(chain).toMatchObject({
      rootPid: holderPid,
      application: 'holder',
      state: 'idle in transaction',
      maxWaiting: K,
    });
    expect(chain.holds).toBe('relation accounts (AccessExclusiveLock)');
    expect(Date.parse(chain.began)).toBeGreaterThanOrEqual(Date.parse(from));
    expect(Date.parse(chain.ended)).toBeLessThan(Date.parse(to));
    expect(chain.longestWaitMs).toBeGreaterThan(0);
    // The root's last statement, its literals redacted.
    expect(chain.query).toMatch(/last_statement/);
    expect(chain.query).not.toMatch(/secret-literal/);

    await reserved`rollback`;
    reserved.release();
    await calm();
    await Promise.all([...running, ...blocked]);
  }, 90_000);

  it('counts parallel workers under their leader’s statement and client', async () => {
    const leader = session('parallel');
    const settings = serverMajor() >= 16 ? 'set debug_parallel_query = on' : 'set force_parallel_mode = on';
    await leader.unsafe(`set max_parallel_workers_per_gather = 2; set parallel_setup_cost = 0;
      set parallel_tuple_cost = 0; set min_parallel_table_scan_size = 0; ${settings}`);
    const running = leader`select count(*) from wide where pg_sleep(0.01) is not null`.catch(() => undefined);
    const workers = await waitFor(async () => {
      const [row] = await admin<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
         where backend_type = 'parallel worker' and leader_pid is not null and state = 'active'`;
      return row.n > 0 ? row.n : false;
    });
    const { from, to } = await sampleWindow(5);
    const byApp = await api.get(`${API}/load?from=${from}&to=${to}&groupBy=application`);
    expect(byApp.body.totals.groups).toEqual([{ key: 'parallel', activeSessions: 1 + workers }]);
    const parallel = byApp.body.points.filter((p: any) => p.samples > 0).map((p: any) => p.parallelWorkers);
    expect(parallel.length).toBeGreaterThan(0);
    expect(parallel.every((n: number) => n === workers)).toBe(true);
    const top = await api.get(`${API}/load/top?from=${from}&to=${to}&by=queryId`);
    // Leader and workers are one statement.
    expect(top.body.contributors).toHaveLength(1);
    expect(top.body.contributors[0].activeSessions).toBe(1 + workers);
    await calm();
    await running;
  }, 60_000);

  it('samples on its timer, and says which buckets were not sampled', async () => {
    await calm();
    const before = sampler().list()[0].samples;
    sampler().start();
    await waitFor(async () => sampler().list()[0].samples >= before + 3, 10_000);
    await sampler().beforeApplicationShutdown();
    const res = await api.get(`${API}/load?window=5m&step=1m`);
    expect(res.status).toBe(200);
    // The window reaches back before the first sample: that part is a gap, not zero load.
    expect(res.body.meta.window.coveredSeconds).toBeLessThan(300);
    const unsampled = res.body.points.filter((p: any) => p.samples === 0);
    for (const p of unsampled) expect(p.activeSessions).toBeNull();
  }, 30_000);

  it('answers bad parameters with a 400 naming them', async () => {
    for (const [query, param] of [
      ['groupBy=nope', 'groupBy'],
      ['step=0s', 'step'],
      ['window=1h&from=-2h', 'from'],
    ]) {
      const res = await api.get(`${API}/load?${query}`);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain(param);
    }
    const top = await api.get(`${API}/load/top?by=nope`);
    expect(top.status).toBe(400);
    expect(JSON.stringify(top.body)).toContain('by');
  });
});
