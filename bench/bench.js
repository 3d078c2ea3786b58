#!/usr/bin/env node
/**
 * pgscope benchmark: a realistic catalogue on an embedded PostgreSQL, then for each endpoint, in one run:
 *  - floor: the endpoint's own SQL through postgres.js (same READ ONLY transaction), median of many runs;
 *  - uncached HTTP at concurrency 1 (CACHE_TTL_MS=0): p50, p99;
 *  - cached HTTP at concurrency 50 for a fixed time (autocannon): requests/s, p50, p99;
 *  - collections PostgreSQL ran during the cached run (pgscope's READ ONLY transactions) against HTTP requests;
 *  - peak RSS of the service process.
 *   npm run bench -- --tables 2000
 * Flags: --tables N (200) --statements N (5000) --sessions N (300) --duration s (20) --requests N (60)
 *        --pg MAJOR (17) --out DIR (bench/results)
 */
require('reflect-metadata');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const postgres = require('postgres');
const autocannon = require('autocannon');
const { EmbeddedPostgres } = require('../dist/embedded/embedded');
const { PostgresProvider } = require('../dist/database/postgres.provider');
const activity = require('../dist/monitoring/activity/activity.sql');
const statements = require('../dist/monitoring/statements/statements.sql');
const indexes = require('../dist/monitoring/indexes/indexes.sql');
const tables = require('../dist/monitoring/indexes/tables.sql');
const cache = require('../dist/monitoring/cache/cache.sql');
const bloat = require('../dist/monitoring/bloat/bloat.sql');
const relations = require('../dist/monitoring/shared/relations.sql');
const overview = require('../dist/monitoring/overview/overview.sql');
const { serverInfoQuery } = require('../dist/database/server-info.sql');

const flag = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const opts = {
  tables: Number(flag('tables', 200)),
  statements: Number(flag('statements', 5000)),
  sessions: Number(flag('sessions', 300)),
  duration: Number(flag('duration', 20)),
  requests: Number(flag('requests', 60)),
  major: Number(flag('pg', 17)),
  out: flag('out', path.join(__dirname, 'results')),
};
const stage = (text) => process.stdout.write(`[bench ${opts.tables} tables] ${text}\n`);
const BASE = '/api/db/monitoring/postgres';
const ENDPOINTS = [
  { name: 'overview', url: BASE },
  { name: 'activity', url: `${BASE}/activity` },
  { name: 'statements', url: `${BASE}/statements` },
  { name: 'indexes', url: `${BASE}/indexes` },
  { name: 'cache', url: `${BASE}/cache` },
];

/**
 * The sizes and whole-catalogue estimates a service reads at its own, slower cadence (SIZES_MAX_AGE_MS): read once
 * here, as the service does, and handed to the per-request SQL the way the service hands them.
 */
const slow = {};
async function readSlowFigures(provider) {
  const t = performance.now();
  await provider.read('bench-sizes', async ({ sql }) => {
    const locked = (await relations.lockedRelationsQuery(sql)).map((l) => l.oid);
    slow.sizes = await relations.relationSizesQuery(sql, locked);
    slow.tableInputs = await bloat.tableBloatInputsQuery(sql);
    slow.indexInputs = await bloat.indexBloatInputsQuery(sql);
  });
  slow.ms = performance.now() - t;
  slow.indexFigures = slow.sizes.filter((r) => r.kind === 'index').map((r) => [Number(r.oid), r.bytes, null]);
  slow.tableFigures = slow.sizes
    .filter((r) => r.kind === 'table')
    .map((r) => [Number(r.oid), r.bytes, r.totalBytes, null]);
}

/** The SQL each endpoint runs per request, with its default parameters, in the provider's READ ONLY transaction. */
const FLOORS = {
  overview: async ({ sql }) => [await serverInfoQuery(sql), await overview.overviewQuery(sql)],
  activity: async ({ sql, info }) => [
    await activity.summaryQuery(sql, info.major),
    await activity.sessionsQuery(sql, info.major, {
      backendType: 'client backend',
      excludeSelf: true,
      orderBy: 'queryDuration',
      order: 'desc',
      limit: 100,
    }),
  ],
  statements: async ({ sql, info }) => {
    const ext = info.extensions.pg_stat_statements;
    const v = statements.extensionVersionNumber(ext.version);
    return [
      await statements.statementsInfoQuery(sql, ext.schema, v),
      await statements.ownEntriesQuery(sql, ext.schema, v),
      await statements.statementsQuery(sql, ext.schema, v, {
        selfKeys: [],
        orderBy: 'totalExecTime',
        order: 'desc',
        limit: 50,
        offset: 0,
      }),
    ];
  },
  indexes: async ({ sql, info }) => {
    const f = { orderBy: 'size', order: 'desc', limit: 100 };
    const locked = (await relations.lockedRelationsQuery(sql)).map((l) => l.oid);
    return [
      await relations.statsResetQuery(sql),
      await indexes.indexesQuery(sql, info.major, f, locked, slow.indexFigures),
      await tables.tablesQuery(sql, info.major, f, locked, slow.tableFigures),
    ];
  },
  cache: async ({ sql }) => {
    const f = { orderBy: 'reads', order: 'desc', limit: 50 };
    const locked = (await relations.lockedRelationsQuery(sql)).map((l) => l.oid);
    // Ordered by reads, the page's sizes come from the snapshot in JS: no figures are sent.
    return [await cache.databaseCacheQuery(sql), await cache.cacheQuery(sql, f, locked, undefined)];
  },
};

/** What a user of the raw views pays for the same family (the targets are ratios against these). */
const RAW = {
  overview: ["select version(), pg_postmaster_start_time(), current_setting('max_connections')"],
  activity: ['select * from pg_stat_activity'],
  statements: ['select * from pg_stat_statements'],
  indexes: ['select * from pg_stat_user_indexes', 'select * from pg_stat_user_tables'],
  cache: ['select * from pg_statio_user_tables'],
};

/** CPU time (user + system, ms) the server's backends of these pids have used, from /proc. */
function backendCpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the backend exited
    }
  }
  return (ticks * 1000) / 100;
}

async function pgscopeBackends(url) {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, fetch_types: false });
  const rows = await sql`select pid from pg_stat_activity where application_name = 'pgscope'`;
  await sql.end();
  return rows.map((r) => r.pid);
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function buildCatalogue(server) {
  const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
  await admin.unsafe('create database bench');
  await admin.end();
  const sql = postgres(server.url('bench'), { max: 4, onnotice: () => undefined, fetch_types: false });
  await sql.unsafe(
    'create extension pg_stat_statements; create extension pgstattuple; create extension pg_buffercache',
  );
  stage(`creating ${opts.tables} tables with 3 indexes each`);
  const batch = 250;
  for (let start = 0; start < opts.tables; start += batch) {
    const end = Math.min(opts.tables, start + batch);
    await sql.unsafe(`do $$ begin for i in ${start}..${end - 1} loop
      execute format('create table t%s (id int primary key, a int, b text, c timestamptz default now())', i);
      execute format('create index t%s_a on t%s (a)', i, i);
      execute format('create index t%s_b on t%s (b)', i, i);
      execute format('insert into t%s select g, g %% 10, ''v'' || g from generate_series(1, 20) g', i);
    end loop; end $$`);
    stage(`  ${end}/${opts.tables}`);
  }
  stage('dead tuples in every tenth table, then ANALYZE');
  await sql.unsafe(`do $$ begin for i in 0..${opts.tables - 1} by 10 loop
      execute format('delete from t%s where id %% 2 = 0', i); end loop; end $$`);
  await sql.unsafe('analyze');
  stage(`running ${opts.statements} distinct statements`);
  await sql.unsafe('select pg_stat_statements_reset()');
  const runner = postgres(server.url('bench'), { max: 4, onnotice: () => undefined, fetch_types: false });
  const jobs = [];
  for (let k = 0; k < opts.statements; k++) {
    const t = k % opts.tables;
    const width = 1 + Math.floor(k / opts.tables);
    jobs.push(`select ${Array.from({ length: width }, () => 'id').join(', ')} from t${t} where a = 1`);
  }
  for (let i = 0; i < jobs.length; i += 200) await Promise.all(jobs.slice(i, i + 200).map((q) => runner.unsafe(q)));
  await runner.end();
  await sql.end();
}

async function openSessions(server) {
  stage(`opening ${opts.sessions} sessions (some active, a lock chain)`);
  const sessions = [];
  const pending = [];
  for (let i = 0; i < opts.sessions; i++) {
    sessions.push(
      postgres(server.url('bench'), {
        max: 1,
        onnotice: () => undefined,
        fetch_types: false,
        connection: { application_name: `app-${i % 7}` },
      }),
    );
  }
  await Promise.all(sessions.map((s) => s`select 1`));
  const active = Math.min(20, Math.floor(opts.sessions / 10));
  for (let i = 0; i < active; i++) pending.push(sessions[i]`select pg_sleep(3600)`.execute().catch(() => undefined));
  if (opts.sessions >= active + 3) {
    const [h, w1, w2] = sessions.slice(active, active + 3);
    await h.unsafe('begin; lock table t0 in access exclusive mode');
    pending.push(w1`select * from t0`.execute().catch(() => undefined));
    pending.push(w2`select * from t0`.execute().catch(() => undefined));
  }
  return { close: () => Promise.all(sessions.map((s) => s.end({ timeout: 0 }).catch(() => undefined))) };
}

/** The service as `npm start` runs it (its node flags included), without the prestart build (done already). */
function startService(url, ttl) {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
      cwd: path.join(__dirname, '..'),
      env: {
        ...process.env,
        DATABASE_URL: url,
        PORT: '0',
        CACHE_TTL_MS: String(ttl),
        // The bench is one client making thousands of requests a second: no rate limit.
        RATE_LIMIT_PER_MINUTE: '0',
        HISTORY: 'off',
        QUERY_TIMEOUT_MS: '30000',
        LOG_LEVEL: 'log',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onData = (c) => {
      out += c.toString();
      const m = /Swagger UI at (http:\/\/[^/\s]+)\/docs/.exec(out);
      const pid = /\[Nest\] (\d+) /.exec(out);
      if (m && pid) resolve({ child, pid: Number(pid[1]), base: m[1] });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`service exited (${code}): ${out}`)));
    setTimeout(() => reject(new Error(`service did not start: ${out}`)), 60_000).unref();
  });
}

/** Peak resident set of a process (VmHWM), MB. */
function peakRssMb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
}

async function stopService(service) {
  const rss = peakRssMb(service.pid);
  const exited = new Promise((r) => service.child.once('exit', r));
  service.child.kill('SIGTERM');
  await exited;
  return rss;
}

/**
 * Collections pgscope has run: each is one READ ONLY transaction, and only pgscope (and the floor phase, before)
 * sends `begin read only`, so its calls in pg_stat_statements count them (autovacuum's commits would not).
 */
async function collectionsSoFar(url) {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, fetch_types: false });
  const [row] =
    await sql`select coalesce(sum(calls), 0)::int8 as n from pg_stat_statements where query = 'begin read only'`;
  await sql.end();
  return Number(row.n);
}

async function main() {
  fs.mkdirSync(opts.out, { recursive: true });
  stage(`starting PostgreSQL ${opts.major}`);
  const server = await EmbeddedPostgres.start({
    major: opts.major,
    settings: {
      max_connections: opts.sessions + 60,
      'pg_stat_statements.max': Math.max(10000, opts.statements * 2),
      shared_buffers: '256MB',
    },
  });
  const results = [];
  let sessions;
  // Ctrl-C must not leave the server behind.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      server.killSync();
      process.exit(130);
    });
  }
  try {
    await buildCatalogue(server);
    sessions = await openSessions(server);
    const url = server.url('bench');
    const provider = PostgresProvider.forUrl({ url, poolMax: 1, queryTimeoutMs: 60_000 });

    stage('the sizes and estimates read at their own cadence (once per SIZES_MAX_AGE_MS)');
    await readSlowFigures(provider);
    stage('floor: each endpoint’s SQL directly, and the raw views');
    const floors = {};
    const raws = {};
    for (const e of ENDPOINTS) {
      const times = [];
      for (let i = 0; i < opts.requests; i++) {
        const t = performance.now();
        await provider.read(`bench-${e.name}`, FLOORS[e.name]);
        times.push(performance.now() - t);
      }
      floors[e.name] = { p50: percentile(times, 50), p99: percentile(times, 99) };
      const rawTimes = [];
      for (let i = 0; i < opts.requests; i++) {
        const t = performance.now();
        await provider.read(`bench-raw-${e.name}`, async ({ sql }) => {
          for (const q of RAW[e.name]) await sql.unsafe(q);
        });
        rawTimes.push(performance.now() - t);
      }
      raws[e.name] = { p50: percentile(rawTimes, 50) };
    }
    // Beside the statements floor: what a naive reader pays, every text with every call.
    const raw = postgres(url, { max: 1, onnotice: () => undefined, fetch_types: false });
    const rawTimes = [];
    for (let i = 0; i < opts.requests; i++) {
      const t = performance.now();
      await raw.unsafe('select * from pg_stat_statements');
      rawTimes.push(performance.now() - t);
    }
    await raw.end();
    const rawStatementsMs = round(percentile(rawTimes, 50));
    await provider.close();

    stage('uncached HTTP, concurrency 1');
    const uncachedService = await startService(url, 0);
    const uncached = {};
    for (const e of ENDPOINTS) {
      await fetch(uncachedService.base + e.url);
      const backends = await pgscopeBackends(url);
      const cpuBefore = backendCpuMs(backends);
      const times = [];
      for (let i = 0; i < opts.requests; i++) {
        const t = performance.now();
        const res = await fetch(uncachedService.base + e.url);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${e.name}: HTTP ${res.status}`);
        times.push(performance.now() - t);
      }
      const seen = [...new Set([...backends, ...(await pgscopeBackends(url))])];
      const cpuMs = backendCpuMs(seen) - cpuBefore + backendCpuMs(seen.filter((p) => !backends.includes(p)));
      uncached[e.name] = { p50: percentile(times, 50), p99: percentile(times, 99), cpuMs: cpuMs / opts.requests };
    }
    const rssUncached = await stopService(uncachedService);

    stage(`cached HTTP, concurrency 50 for ${opts.duration} s per endpoint`);
    const cachedService = await startService(url, 1000);
    const cached = {};
    for (const e of ENDPOINTS) {
      stage(`  ${e.name}`);
      const before = await collectionsSoFar(url);
      const r = await autocannon({ url: cachedService.base + e.url, connections: 50, duration: opts.duration });
      const after = await collectionsSoFar(url);
      cached[e.name] = {
        requestsPerSec: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        requests: r.requests.total,
        non2xx: r.non2xx,
        collections: after - before,
        ttlWindows: Math.ceil((opts.duration * 1000) / 1000),
      };
    }
    const rssCached = await stopService(cachedService);

    for (const e of ENDPOINTS) {
      const f = floors[e.name];
      const u = uncached[e.name];
      const c = cached[e.name];
      results.push({
        endpoint: e.name,
        rawP50Ms: round(raws[e.name].p50),
        rawRatio: round(u.p50 / raws[e.name].p50, 2),
        serverCpuMsPerRequest: round(u.cpuMs, 1),
        floorP50Ms: round(f.p50),
        uncachedP50Ms: round(u.p50),
        uncachedP99Ms: round(u.p99),
        overheadMs: round(u.p50 - f.p50),
        overheadRatio: round(u.p50 / f.p50 - 1, 3),
        cachedRps: Math.round(c.requestsPerSec),
        cachedP50Ms: c.p50,
        cachedP99Ms: c.p99,
        cachedRequests: c.requests,
        non2xx: c.non2xx,
        collections: c.collections,
        ttlWindows: c.ttlWindows,
      });
    }
    const peakRss = round(Math.max(rssUncached, rssCached), 1);
    const meta = {
      tables: opts.tables,
      indexes: opts.tables * 3,
      statements: opts.statements,
      sessions: opts.sessions,
      durationS: opts.duration,
      requests: opts.requests,
      cores: os.cpus().length,
      postgres: opts.major,
      peakRssMb: peakRss,
      slowFiguresMs: round(slow.ms),
      at: new Date().toISOString(),
    };
    const lines = [
      `# pgscope benchmark: ${opts.tables} tables (${opts.tables * 3} indexes), ${opts.statements} statements, ${opts.sessions} sessions`,
      '',
      `PostgreSQL ${opts.major}, ${meta.cores} cores, ${opts.requests} sequential requests per endpoint uncached, ${opts.duration} s at concurrency 50 cached (TTL 1000 ms). Peak service RSS: ${peakRss} MB. A plain \`SELECT * FROM pg_stat_statements\`: ${rawStatementsMs} ms (p50).`,
      '',
      `Raw views: what a user of them pays for the same family in one transaction (indexes: pg_stat_user_indexes + pg_stat_user_tables; cache: pg_statio_user_tables; activity: pg_stat_activity; statements: pg_stat_statements; overview: version and settings). Sizes and whole-catalogue bloat estimates are read at their own cadence (SIZES_MAX_AGE_MS, default 5 min): that read took ${round(slow.ms)} ms here, once per cadence whatever the number of requests. Server CPU: user + system time of pgscope's backends (/proc) per uncached request.`,
      '',
      '| endpoint | raw views p50 ms | uncached p50 ms | ratio to raw | server CPU ms / request | floor p50 ms (own SQL) | uncached p99 ms | cached req/s | cached p50 ms | cached p99 ms | collections / requests |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.endpoint} | ${r.rawP50Ms} | ${r.uncachedP50Ms} | ${r.rawRatio}× | ${r.serverCpuMsPerRequest} | ${r.floorP50Ms} | ${r.uncachedP99Ms} | ${r.cachedRps} | ${r.cachedP50Ms} | ${r.cachedP99Ms} | ${r.collections} / ${r.cachedRequests} (${r.ttlWindows} TTL windows) |`,
      ),
    ];
    const text = lines.join('\n');
    process.stdout.write(`\n${text}\n`);
    const base = path.join(opts.out, `bench-${opts.tables}-pg${opts.major}`);
    fs.writeFileSync(`${base}.md`, `${text}\n`);
    fs.writeFileSync(`${base}.json`, `${JSON.stringify({ meta, results }, null, 2)}\n`);
  } finally {
    await sessions?.close();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
