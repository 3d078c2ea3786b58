#!/usr/bin/env node
/**
 * Load-sampling benchmark, in one run against a real PostgreSQL with 300 sessions (default):
 *   - the sampler's cost on the watched server: CPU time (utime + stime from /proc) of pgscope's backends while it
 *     samples at LOAD_SAMPLE_MS=1000, over wall time (target ≤ 0.5% of one core);
 *   - the sampler's own CPU in the service (process.cpuUsage of this process, which runs only pgscope: the workload
 *     is a child process), over wall time (target ≤ 1% of one core);
 *   - the store: rows per bucket and bytes per hour of load_ticks, load_buckets and lock_chains;
 *   - one sample's SQL timed raw (postgres.js, same queries) against the sampler's own sample, same run.
 * The workload: of the sessions, 40 run short statements over 20 tables (pg_sleep inside, so they are seen active),
 * 10 sit idle in a transaction, one holds a lock that 5 others wait on (a chain in every sample), the rest are idle.
 *   npm run bench:load          (flags: --sessions 300 --seconds 120 --pg 17)
 */
require('reflect-metadata');
const fs = require('node:fs');
const path = require('node:path');
const { fork } = require('node:child_process');
const postgres = require('postgres');
const { EmbeddedPostgres } = require('../dist/embedded/embedded');
const { createApp } = require('../dist/app.setup');
const { loadEnv } = require('../dist/config/env');
const { LoadSampler } = require('../dist/load/load.sampler');
const { sessionsSampleQuery, chainsSampleQuery } = require('../dist/load/load.sql');
const { TargetRegistry } = require('../dist/targets/registry');
const { targetFromUrl } = require('../dist/targets/targets.config');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const opts = { sessions: arg('sessions', 300), seconds: arg('seconds', 120), major: arg('pg', 17) };
const TICK_MS = 1000 / 100; // USER_HZ: /proc/<pid>/stat counts in 1/100 s.
const stage = (text) => process.stdout.write(`[bench load] ${new Date().toISOString().slice(11, 19)} ${text}\n`);
const round = (v, d = 3) => Math.round(v * 10 ** d) / 10 ** d;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The workload, in a child process so that this process's CPU is pgscope's alone.
if (process.argv[2] === '--workload') {
  const [url, count] = [process.argv[3], Number(process.argv[4])];
  const sessions = [];
  let running = true;
  process.on('message', (m) => {
    if (m === 'stop') running = false;
  });
  (async () => {
    for (let i = 0; i < count; i++) {
      const s = postgres(url, { max: 1, onnotice: () => undefined, connection: { application_name: `app-${i % 7}` } });
      await s`select 1`;
      sessions.push(s);
    }
    const loops = [];
    // 40 busy sessions over 20 tables.
    for (let i = 0; i < 40; i++) {
      const s = sessions[i];
      loops.push(
        (async () => {
          while (running) await s.unsafe(`select pg_sleep(0.05), count(*) from t${i % 20}`);
        })(),
      );
    }
    // 10 idle in a transaction.
    const reserved = [];
    for (let i = 40; i < 50; i++) {
      const r = await sessions[i].reserve();
      await r`begin`;
      await r`select count(*) from t0`;
      reserved.push(r);
    }
    // One holder, 5 waiters behind it.
    const holder = await sessions[50].reserve();
    await holder`begin`;
    await holder`lock table t19 in access exclusive mode`;
    const waiters = [];
    for (let i = 51; i < 56; i++) waiters.push(sessions[i]`select count(*) from t19`.catch(() => undefined));
    process.send('ready');
    while (running) await sleep(100);
    await holder`rollback`;
    holder.release();
    for (const r of reserved) {
      await r`rollback`;
      r.release();
    }
    await Promise.all([...loops, ...waiters]);
    await Promise.all(sessions.map((s) => s.end({ timeout: 1 })));
    process.exit(0);
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
  return;
}

function backendTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

(async () => {
  stage(`watched server: PostgreSQL ${opts.major}, ${opts.sessions} sessions`);
  const [watched, storeServer] = await Promise.all([
    EmbeddedPostgres.start({
      major: opts.major,
      settings: { shared_preload_libraries: 'pg_stat_statements', max_connections: opts.sessions + 50 },
    }),
    EmbeddedPostgres.start({ major: opts.major }),
  ]);
  const admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
  let app;
  let child;
  try {
    await admin.unsafe(`create extension pg_stat_statements;
      do $$ begin for i in 0..19 loop
        execute format('create table t%s (id int primary key, v text)', i);
        execute format('insert into t%s select g, ''v'' || g from generate_series(1, 1000) g', i);
      end loop; end $$;`);
    const storeAdmin = postgres(storeServer.url(), { max: 1, onnotice: () => undefined });
    await storeAdmin.unsafe('create database history');
    await storeAdmin.end();
    child = fork(__filename, ['--workload', watched.url(), String(opts.sessions)], { stdio: 'inherit' });
    await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`workload exited with ${code}`)));
    });
    const [{ n }] = await admin`select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'`;
    stage(`${n} client sessions; sampling at 1 Hz for ${opts.seconds} s`);

    const env = loadEnv({
      CACHE_TTL_MS: '0',
      LOG_LEVEL: 'warn',
      HISTORY: 'on',
      HISTORY_DATABASE_URL: storeServer.url('history'),
      LOAD_SAMPLE_MS: '1000',
    });
    const targets = [targetFromUrl('bench', watched.url(), env, {})];
    app = await createApp(env, { targets, logger: ['warn', 'error'] });
    await app.init();
    const sampler = app.get(LoadSampler);
    const target = app.get(TargetRegistry).list()[0];
    // Warm-up: connections open, version known, first bucket written.
    for (let i = 0; i < 3; i++) await sampler.sampleTarget(target);

    const pids = (await admin`select pid from pg_stat_activity where application_name = 'pgscope'`).map((r) => r.pid);
    const before = new Map(pids.map((pid) => [pid, backendTicks(pid)]));
    const cpuBefore = process.cpuUsage();
    const started = Date.now();
    const durations = [];
    sampler.start();
    const watch = setInterval(() => {
      const d = sampler.list()[0]?.lastDurationMs;
      if (d !== null && d !== undefined) durations.push(d);
    }, 1000);
    await sleep(opts.seconds * 1000);
    clearInterval(watch);
    await sampler.beforeApplicationShutdown();
    const wallMs = Date.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const after = (await admin`select pid from pg_stat_activity where application_name = 'pgscope'`).map((r) => r.pid);
    let ticks = 0;
    for (const pid of new Set([...pids, ...after])) {
      const now = backendTicks(pid);
      if (now !== null) ticks += now - (before.get(pid) ?? 0);
    }
    const state = sampler.list()[0];

    // The same SQL, raw: what one sample costs without pgscope around it.
    const raw = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    const rawTimes = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      await raw.begin('read only', async (sql) => {
        const sessions = await sessionsSampleQuery(sql, opts.major);
        if (sessions.some((s) => s.waitType === 'Lock')) await chainsSampleQuery(sql, opts.major);
      });
      rawTimes.push(performance.now() - t0);
    }
    await raw.end();
    const sampleTimes = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      await sampler.sampleTarget(target);
      sampleTimes.push(performance.now() - t0);
    }
    const p50 = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

    const store = postgres(storeServer.url('history'), { max: 1, onnotice: () => undefined });
    await store`checkpoint`;
    const [rows] = await store`
      select (select count(*) from load_ticks)::int as ticks, (select count(*) from load_buckets)::int as buckets,
             (select count(*) from lock_chains)::int as chains,
             (select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::int8 from pg_inherits i
               where i.inhparent in ('load_ticks'::regclass, 'load_buckets'::regclass, 'lock_chains'::regclass)) as bytes,
             (select coalesce(sum(pg_relation_size(i.inhrelid)), 0)::int8 from pg_inherits i
               where i.inhparent in ('load_ticks'::regclass, 'load_buckets'::regclass, 'lock_chains'::regclass)) as heap`;
    const [perBucket] = await store`
      select max(n)::int as max, avg(n)::float8 as avg from (select at, count(*) as n from load_buckets group by at) b`;
    await store.end();
    const hours = (rows.ticks * env.LOAD_BUCKET_SECONDS) / 3600;
    const results = {
      watched: `PostgreSQL ${opts.major}`,
      sessions: n,
      wallSeconds: round(wallMs / 1000, 1),
      samples: state.samples,
      skips: state.skips,
      failures: state.failures,
      watchedCpuMs: ticks * TICK_MS,
      watchedCpuPercentOfOneCore: round((ticks * TICK_MS * 100) / wallMs),
      serviceCpuMs: round((cpu.user + cpu.system) / 1000, 1),
      serviceCpuPercentOfOneCore: round(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
      sampleP50Ms: round(p50(sampleTimes), 2),
      rawSqlP50Ms: round(p50(rawTimes), 2),
      sampleToRawRatio: round(p50(sampleTimes) / p50(rawTimes), 2),
      sampleDurationP50DuringRunMs: round(p50(durations), 2),
      store: {
        buckets: rows.ticks,
        rows: rows.buckets,
        chainRows: rows.chains,
        rowsPerBucketMax: perBucket.max,
        rowsPerBucketAvg: round(perBucket.avg, 1),
        bytes: Number(rows.bytes),
        heapBytes: Number(rows.heap),
        rowsPerHour: Math.round((rows.buckets + rows.chains + rows.ticks) / hours),
        bytesPerHour: Math.round(Number(rows.heap) / hours),
      },
    };
    stage(JSON.stringify(results));
    const dir = path.join(__dirname, 'results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `load-${opts.sessions}-pg${opts.major}.json`);
    fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    stage(`wrote ${path.relative(process.cwd(), file)}`);
  } finally {
    child?.send('stop');
    await new Promise((r) => (child && child.exitCode === null ? child.once('exit', r) : r()));
    await app?.close();
    await admin.end();
    await Promise.all([watched.stop(), storeServer.stop()]);
  }
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
