#!/usr/bin/env node
/**
 * History benchmark, in one run:
 *  Live (a real collector at the default cadences against a real workload):
 *   - 5,000 pg_stat_statements entries, 2,000 tables, 300 idle sessions; each minute 500 of the entries run;
 *   - the collector's cost on the watched server: CPU time (utime + stime from /proc) of pgscope's backends over the
 *     run, divided by its wall time (target ≤ 1% of one core);
 *   - store growth: bytes on disk per stored statement-interval (target ≤ 120), and per day for this workload.
 *  Reads (a store filled with what the collector writes for 5,000 entries at 60 s cadence, 14 days):
 *   - GET /statements?window=1h and ?window=14d p50, uncached, through the application, against the store's raw
 *     SQL for the same sums measured in the same run (targets 100 ms and 500 ms).
 *   npm run bench:history        (flags: --minutes 10 --entries 5000 --tables 2000 --sessions 300 --active 500
 *                                  --requests 30 --pg 17 --skip-live)
 */
require('reflect-metadata');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const postgres = require('postgres');
const { EmbeddedPostgres } = require('../dist/embedded/embedded');
const { createApp } = require('../dist/app.setup');
const { loadEnv } = require('../dist/config/env');
const { HistoryCollector } = require('../dist/history/collector.service');
const { HistoryService } = require('../dist/history/history.service');
const { targetFromUrl } = require('../dist/targets/targets.config');

const flag = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const opts = {
  minutes: flag('minutes', 10),
  entries: flag('entries', 5000),
  tables: flag('tables', 2000),
  sessions: flag('sessions', 300),
  active: flag('active', 500),
  requests: flag('requests', 30),
  major: flag('pg', 17),
  skipLive: process.argv.includes('--skip-live'),
  out: (() => {
    const i = process.argv.indexOf('--out');
    return i > 0 ? process.argv[i + 1] : path.join(__dirname, 'results');
  })(),
};
const stage = (text) => process.stdout.write(`[bench history] ${new Date().toISOString().slice(11, 19)} ${text}\n`);
const API = '/api/db/monitoring/postgres';
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const TICK_MS = 1000 / 100; // USER_HZ: /proc/<pid>/stat counts in 1/100 s.

/** The statements of the workload: `entries` distinct ones over `tables` tables. */
function statement(i, tables) {
  const t = `t${i % tables}`;
  switch (Math.floor(i / tables) % 3) {
    case 0:
      return `select a from ${t} where id = ${(i % 97) + 1}`;
    case 1:
      return `select count(*) from ${t} where a = ${i % 7}`;
    default:
      return `update ${t} set b = b where id = ${(i % 89) + 1}`;
  }
}

async function live(results) {
  stage(`watched server: PostgreSQL ${opts.major}, ${opts.tables} tables, ${opts.entries} statements`);
  const watched = await EmbeddedPostgres.start({
    major: opts.major,
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      'pg_stat_statements.max': opts.entries * 2,
      max_connections: opts.sessions + 50,
      max_locks_per_transaction: 256,
    },
  });
  const historyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-bench-history-'));
  const admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
  let app;
  const idle = [];
  try {
    await admin.unsafe(`create extension pg_stat_statements;
      do $$ begin for i in 0..${opts.tables - 1} loop
        execute format('create table t%s (id int primary key, a int, b text)', i);
        execute format('insert into t%s select g, g %% 10, ''v'' || g from generate_series(1, 100) g', i);
      end loop; end $$;`);
    await admin.unsafe('analyze');
    const workers = Array.from({ length: 4 }, () => postgres(watched.url(), { max: 1, onnotice: () => undefined }));
    // Every entry once, so that pg_stat_statements has all of them from the start.
    for (let i = 0; i < opts.entries; i++) await workers[i % 4].unsafe(statement(i, opts.tables));
    stage(`${opts.sessions} idle sessions`);
    for (let i = 0; i < opts.sessions; i++) {
      const s = postgres(watched.url(), { max: 1, onnotice: () => undefined });
      await s`select 1`;
      idle.push(s);
    }
    const env = loadEnv({ CACHE_TTL_MS: '0', HISTORY_DIR: historyDir, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' });
    const targets = [targetFromUrl('bench', watched.url(), env, {})];
    app = await createApp(env, { targets, logger: ['warn', 'error'] });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const store = app.get(HistoryService).store;
    const bytesBefore = (await store.status()).bytes;

    // pgscope's backends on the watched server, sampled: their CPU ticks as last seen.
    const ticks = new Map();
    let sampling = true;
    const sampler = (async () => {
      const probe = postgres(watched.url(), { max: 1, onnotice: () => undefined });
      while (sampling) {
        const pids = await probe`select pid from pg_stat_activity where application_name = 'pgscope'`;
        for (const { pid } of pids) {
          try {
            const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
            ticks.set(pid, Number(fields[11]) + Number(fields[12]));
          } catch {
            // exited between the two reads
          }
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      await probe.end();
    })();

    stage(`collector at the default cadences for ${opts.minutes} min, ${opts.active} statements a minute`);
    const started = Date.now();
    app.get(HistoryCollector).start();
    let running = true;
    const workload = (async () => {
      while (running) {
        const minute = Date.now();
        const picks = new Set();
        while (picks.size < opts.active) picks.add(Math.floor(Math.random() * opts.entries));
        const list = [...picks];
        const per = Math.ceil(list.length / workers.length);
        await Promise.all(
          workers.map(async (w, k) => {
            for (const i of list.slice(k * per, (k + 1) * per)) {
              if (!running) return;
              await w.unsafe(statement(i, opts.tables));
              await new Promise((r) => setTimeout(r, 60_000 / per / 2));
            }
          }),
        );
        const rest = 60_000 - (Date.now() - minute);
        if (rest > 0 && running)
          await new Promise((r) =>
            setTimeout(r, Math.min(rest, Date.now() - started > opts.minutes * 60_000 ? 0 : rest)),
          );
      }
    })();
    await new Promise((r) => setTimeout(r, opts.minutes * 60_000));
    running = false;
    const wallMs = Date.now() - started;
    await workload;
    sampling = false;
    await sampler;
    const cpuMs = [...ticks.values()].reduce((a, b) => a + b, 0) * TICK_MS;

    const status = (await app.inject({ url: `${API}/history` })).json();
    const storeSql = postgres(
      `postgres://postgres:${fs.readFileSync(path.join(historyDir, 'password'), 'utf8').trim()}@127.0.0.1:${
        fs.readFileSync(path.join(historyDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[3]
      }/postgres`,
      { max: 1, onnotice: () => undefined },
    );
    await storeSql`checkpoint`;
    await storeSql`vacuum analyze statement_deltas`;
    const [deltas] = await storeSql`
      select count(*)::int8 as rows,
             (select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::int8 from pg_inherits i
               where i.inhparent = 'statement_deltas'::regclass) as bytes,
             count(distinct at)::int as snapshots
        from statement_deltas`;
    const [hourly] = await storeSql`
      select count(*)::int8 as rows,
             (select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::int8 from pg_inherits i
               where i.inhparent = 'statement_hourly'::regclass) as bytes
        from statement_hourly`;
    await storeSql.end();
    const bytesAfter = (await store.status()).bytes;
    const rowsPerSnapshot = Number(deltas.rows) / Math.max(1, deltas.snapshots - 0);
    const bytesPerRow = Number(deltas.bytes) / Math.max(1, Number(deltas.rows));
    results.live = {
      watched: `PostgreSQL ${opts.major}`,
      entries: opts.entries,
      tables: opts.tables,
      sessions: opts.sessions,
      activePerMinute: opts.active,
      wallSeconds: round(wallMs / 1000, 1),
      collectorCpuMs: round(cpuMs, 0),
      collectorCpuPercentOfOneCore: round((100 * cpuMs) / wallMs, 3),
      backendsSeen: ticks.size,
      collections: status.collections.map((c) => ({
        family: c.family,
        database: c.database,
        collections: c.collections,
        skips: c.skips,
        lastDurationMs: c.lastDurationMs,
        lastRows: c.lastRows,
      })),
      statementDeltas: {
        rows: Number(deltas.rows),
        snapshots: deltas.snapshots,
        bytes: Number(deltas.bytes),
        bytesPerStatementInterval: round(bytesPerRow, 1),
      },
      statementHourly: { rows: Number(hourly.rows), bytes: Number(hourly.bytes) },
      storeBytesGrowth: bytesAfter - bytesBefore,
      statementBytesPerDay: Math.round(rowsPerSnapshot * 1440 * bytesPerRow),
      storeBytesPerDay: Math.round(((bytesAfter - bytesBefore) / wallMs) * 86_400_000),
    };
    stage(JSON.stringify(results.live));
  } finally {
    await app?.close();
    await Promise.all(idle.map((s) => s.end({ timeout: 1 }).catch(() => undefined)));
    await admin.end();
    await watched.stop();
    fs.rmSync(historyDir, { recursive: true, force: true });
  }
}

/**
 * A store as 14 days of the collector at 60 s cadence leave it: the last two hours of raw deltas of every entry
 * (the worst case: all 5,000 move every minute), the hourly rollups of 14 days (every entry every hour), and the
 * edges of a 14-day window in raw deltas too; then the windowed reads.
 */
async function reads(results) {
  const historyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-bench-reads-'));
  const watched = await EmbeddedPostgres.start({
    major: opts.major,
    settings: { shared_preload_libraries: 'pg_stat_statements' },
  });
  let app;
  try {
    const w = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await w`create extension pg_stat_statements`;
    await w.end();
    const env = loadEnv({ CACHE_TTL_MS: '0', HISTORY_DIR: historyDir, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' });
    // Two targets on one server: every entry moving every minute (the worst case), and `active` of them (typical).
    const kinds = { all: opts.entries, typical: opts.active };
    app = await createApp(env, {
      targets: Object.keys(kinds).map((k) => targetFromUrl(k, watched.url(), env, {})),
      logger: ['warn', 'error'],
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const store = app.get(HistoryService).store;
    const now = new Date();
    const minute = 60_000;
    const hour = 3_600_000;
    const nowMin = Math.floor(now.getTime() / minute) * minute;
    for (let d = 15; d >= -1; d--) await store.ensurePartitions(new Date(now.getTime() - d * 86_400_000));
    const fill = (targetId, moving) =>
      store.write(async (tx) => {
        await tx.unsafe(`
        insert into statement_texts (target_id, dbid, userid, queryid, datname, rolname, query, first_seen)
        select ${targetId}, 5, 10, q, 'app', 'app_user', 'select * from t' || q || ' where id = $1', now() - interval '15 days'
          from generate_series(1, ${opts.entries}) q`);
        // The last two hours and the first two of the 14-day window: minutes.
        for (const startMs of [nowMin - 2 * hour, nowMin - 14 * 86_400_000 - hour]) {
          await tx.unsafe(`
          insert into statement_deltas
          select t, q, 1 + (q % 5), 0.5 * (1 + q % 9), null, null, 1 + (q % 5), 10 * (1 + q % 5), q % 3, null, null,
                 null, null, null, null, null, null, q % 2, 100 * (q % 2), null, null, 5, 10, ${targetId}, true
            from generate_series(1, ${moving}) q,
                 generate_series(to_timestamp(${startMs / 1000}), to_timestamp(${(startMs + 2 * hour) / 1000}) - interval '1 minute', interval '1 minute') t`);
        }
        await tx.unsafe(`
        insert into statement_hourly
        select t, q, 60 * (1 + (q % 5)), 30 * (1 + q % 9), null, null, 60 * (1 + (q % 5)), 600 * (1 + q % 5),
               60 * (q % 3), null, null, null, null, null, null, null, null, 60 * (q % 2), 6000 * (q % 2), null, null,
               5, 10, ${targetId}, true
          from generate_series(1, ${Math.min(opts.entries, moving * 10)}) q,
               generate_series(date_trunc('hour', to_timestamp(${(nowMin - 14 * 86_400_000 - hour) / 1000})),
                               date_trunc('hour', to_timestamp(${nowMin / 1000})) - interval '1 hour', interval '1 hour') t`);
        await tx.unsafe(`
        insert into statement_daily
        select date_trunc('day', at, 'UTC'), queryid, sum(calls), sum(exec_ms), null, null, sum(rows), sum(shared_hit),
               sum(shared_read), null, null, null, null, null, null, null, null, sum(wal_records), sum(wal_bytes), null,
               null, dbid, userid, target_id, toplevel
          from statement_hourly where target_id = ${targetId} and at < date_trunc('day', now(), 'UTC')
         group by 1, 2, dbid, userid, target_id, toplevel`);
        await tx`update targets set hourly_through = date_trunc('hour', ${now}::timestamptz, 'UTC'),
                                  daily_through = date_trunc('day', ${now}::timestamptz, 'UTC')
                where id = ${targetId}`;
        // The snapshots the windows' coverage reads: one a minute.
        await tx.unsafe(`
        insert into snapshots (target_id, family, at, prev_at, duration_ms, rows, server_version, extension_version)
        select ${targetId}, 'statements', t, t - interval '1 minute', 50, ${moving}, '17', 111
          from generate_series(to_timestamp(${(nowMin - 14 * 86_400_000 - 2 * hour) / 1000}), to_timestamp(${nowMin / 1000}), interval '1 minute') t`);
      });
    const ids = {};
    for (const [kind, moving] of Object.entries(kinds)) {
      ids[kind] = await store.targetId(kind);
      stage(`filling the store (${kind}): ${opts.entries} entries, ${moving} moving a minute, 14 days`);
      await fill(ids[kind], moving);
    }
    const storeSql = postgres(
      `postgres://postgres:${fs.readFileSync(path.join(historyDir, 'password'), 'utf8').trim()}@127.0.0.1:${
        fs.readFileSync(path.join(historyDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[3]
      }/postgres`,
      { max: 1, onnotice: () => undefined },
    );
    await storeSql`vacuum analyze`;
    const measure = async (label, fn) => {
      await fn();
      const times = [];
      for (let i = 0; i < opts.requests; i++) {
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
      return { label, p50: round(percentile(times, 50)), p95: round(percentile(times, 95)) };
    };
    const windowed = (kind, span) => async () => {
      const res = await app.inject({ url: `${API}/statements?target=${kind}&window=${span}&limit=50` });
      if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`);
    };
    const raw = (kind, hoursBack) => () =>
      storeSql`
        select queryid, sum(calls), sum(exec_ms), sum(rows), sum(shared_hit), sum(shared_read)
          from ${storeSql.unsafe(hoursBack > 48 ? 'statement_daily' : 'statement_deltas')}
         where target_id = ${ids[kind]} and at > now() - ${`${hoursBack} hours`}::interval
         group by dbid, userid, queryid, toplevel
         order by 3 desc limit 50`;
    stage('reads');
    const measured = {};
    for (const kind of Object.keys(kinds)) {
      const oneHour = await measure('window=1h', windowed(kind, '1h'));
      const oneHourRaw = await measure('raw 1h', raw(kind, 1));
      const twoWeeks = await measure('window=14d', windowed(kind, '14d'));
      const twoWeeksRaw = await measure('raw 14d (daily rollup only)', raw(kind, 14 * 24));
      measured[kind] = {
        movingEveryMinute: kinds[kind],
        window1h: { ...oneHour, rawSqlP50: oneHourRaw.p50, ratio: round(oneHour.p50 / oneHourRaw.p50) },
        window14d: { ...twoWeeks, rawSqlP50: twoWeeksRaw.p50, ratio: round(twoWeeks.p50 / twoWeeksRaw.p50) },
      };
    }
    const live = await measure('live (no window)', async () => {
      await app.inject({ url: `${API}/statements?target=all&limit=50` });
    });
    await storeSql.end();
    results.reads = { entries: opts.entries, ...measured, liveP50: live.p50 };
    stage(JSON.stringify(results.reads));
  } finally {
    await app?.close();
    await watched.stop();
    fs.rmSync(historyDir, { recursive: true, force: true });
  }
}

(async () => {
  const results = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}`,
    opts,
  };
  await reads(results);
  if (!opts.skipLive) await live(results);
  fs.mkdirSync(opts.out, { recursive: true });
  const file = path.join(opts.out, `history-${opts.entries}-pg${opts.major}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  stage(`wrote ${path.relative(process.cwd(), file)}`);
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
