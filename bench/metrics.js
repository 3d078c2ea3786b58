#!/usr/bin/env node
/**
 * /metrics against postgres_exporter, side by side against the same server in one run: N tables (2,000 and 10,000 by
 * default) and 5,000 pg_stat_statements entries. The exporter (Debian's prometheus-postgres-exporter) runs as a user
 * after the same coverage would run it: its default collectors plus the example queries.yaml it ships (per-table
 * pg_stat_user_tables and pg_statio_user_tables, and pg_stat_statements; column names adapted to this major). For
 * each: scrape latency p50 (sequential scrapes), series count, and SQL statements the server ran per scrape
 * (pg_stat_statements calls, the probe's own left out). pgscope is measured with METRICS_TTL_MS=0 (every scrape
 * collects: its worst case) and with its default TTL (what many scrapers cost).
 *   npm run bench:metrics        (flags: --tables 2000,10000 --statements 5000 --scrapes 10 --pg 17)
 */
require('reflect-metadata');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const postgres = require('postgres');
const { EmbeddedPostgres, freePort } = require('../dist/embedded/embedded');
const { createApp } = require('../dist/app.setup');
const { loadEnv } = require('../dist/config/env');
const { targetFromUrl } = require('../dist/targets/targets.config');

const flag = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const opts = {
  tables: String(flag('tables', '2000,10000')).split(',').map(Number),
  statements: Number(flag('statements', 5000)),
  scrapes: Number(flag('scrapes', 10)),
  major: Number(flag('pg', 17)),
};
const stage = (text) => process.stdout.write(`[bench metrics] ${new Date().toISOString().slice(11, 19)} ${text}\n`);
const p50 = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const round = (v) => Math.round(v * 100) / 100;
const EXPORTER = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus-postgres-exporter']).toString().trim();
  } catch {
    return null;
  }
})();

/** The exporter's shipped example queries, for this major's column names. */
function exporterQueries(major) {
  const src = '/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml';
  let text = fs.readFileSync(src, 'utf8');
  text = text
    .replace(/\btotal_time\b/g, 'total_exec_time')
    .replace(/\bmin_time\b/g, 'min_exec_time')
    .replace(/\bmax_time\b/g, 'max_exec_time')
    .replace(/\bmean_time\b/g, 'mean_exec_time')
    .replace(/\bstddev_time\b/g, 'stddev_exec_time');
  if (major >= 17)
    text = text
      .replace(/\bblk_read_time\b/g, 'shared_blk_read_time')
      .replace(/\bblk_write_time\b/g, 'shared_blk_write_time');
  const file = path.join(os.tmpdir(), `pgscope-exporter-queries-${process.pid}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

async function measure(label, url, admin) {
  const times = [];
  const statements = [];
  let series = 0;
  let bytes = 0;
  let firstMs = 0;
  const calls = async () =>
    Number((await admin`select coalesce(sum(calls), 0)::int8 as n from pg_stat_statements`)[0].n);
  for (let i = 0; i < opts.scrapes + 2; i++) {
    const before = await calls();
    const t0 = performance.now();
    const res = await fetch(url, { headers: { accept: 'text/plain' } });
    const body = await res.text();
    const ms = performance.now() - t0;
    // A scrape may start collections it does not wait for (it serves the last values): let them finish.
    await new Promise((r) => setTimeout(r, 1000));
    const after = await calls();
    if (res.status !== 200) throw new Error(`${label}: ${res.status} ${body.slice(0, 200)}`);
    // The first scrape waits for every collection (pgscope's later ones serve the last values meanwhile).
    if (i === 0) firstMs = ms;
    if (i >= 2) {
      times.push(ms);
      // The probe itself is one statement between the two readings.
      statements.push(after - before - 1);
      series = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
      bytes = body.length;
    }
  }
  return {
    scrapeP50Ms: round(p50(times)),
    firstScrapeMs: round(firstMs),
    series,
    bytes,
    sqlStatementsPerScrape: p50(statements),
  };
}

async function run(tables) {
  stage(`PostgreSQL ${opts.major}: ${tables} tables, ${opts.statements} statements`);
  const server = await EmbeddedPostgres.start({
    major: opts.major,
    settings: { 'pg_stat_statements.max': opts.statements * 2, max_locks_per_transaction: 1024 },
  });
  const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
  let app;
  let exporter;
  try {
    await admin.unsafe('create extension pg_stat_statements');
    for (let from = 0; from < tables; from += 500) {
      await admin.unsafe(`do $$ begin for i in ${from}..${Math.min(from + 500, tables) - 1} loop
        execute format('create table t%s (id int primary key, v int)', i);
        execute format('insert into t%s select g, g from generate_series(1, 10) g', i);
      end loop; end $$;`);
    }
    await admin.unsafe('analyze');
    for (let i = 0; i < opts.statements; i++) {
      await admin.unsafe(`select id from t${i % tables} where ${'id > 0 and '.repeat(Math.floor(i / tables))}true`);
    }
    const results = { watched: `PostgreSQL ${opts.major}`, tables, statements: opts.statements };

    for (const [key, ttl] of [
      ['pgscope', '0'],
      ['pgscopeCached', '10000'],
    ]) {
      const env = loadEnv({
        CACHE_TTL_MS: '0',
        LOG_LEVEL: 'warn',
        HISTORY: 'off',
        RATE_LIMIT_PER_MINUTE: '0',
        METRICS_TTL_MS: ttl,
      });
      app = await createApp(env, {
        targets: [targetFromUrl('bench', server.url(), env, {})],
        logger: ['warn', 'error'],
      });
      const port = await freePort();
      await app.listen(port, '127.0.0.1');
      results[key] = await measure(key, `http://127.0.0.1:${port}/metrics`, admin);
      await app.close();
      app = undefined;
    }

    if (EXPORTER) {
      const port = await freePort();
      exporter = spawn(
        EXPORTER,
        [
          `--web.listen-address=127.0.0.1:${port}`,
          `--extend.query-path=${exporterQueries(opts.major)}`,
          '--log.level=error',
        ],
        { env: { ...process.env, DATA_SOURCE_NAME: `${server.url()}?sslmode=disable` }, stdio: 'ignore' },
      );
      for (let i = 0; i < 100; i++) {
        try {
          if ((await fetch(`http://127.0.0.1:${port}/metrics`)).ok) break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      results.postgresExporter = {
        version: '0.11.1 (Debian)',
        ...(await measure('exporter', `http://127.0.0.1:${port}/metrics`, admin)),
      };
      results.scrapeRatio = round(results.pgscope.scrapeP50Ms / results.postgresExporter.scrapeP50Ms);
    } else {
      results.postgresExporter = null;
      stage(
        'prometheus-postgres-exporter is not installed (apt-get install prometheus-postgres-exporter): pgscope alone',
      );
    }
    stage(JSON.stringify(results));
    return results;
  } finally {
    exporter?.kill('SIGTERM');
    await app?.close();
    await admin.end();
    await server.stop();
  }
}

(async () => {
  const all = [];
  for (const tables of opts.tables) all.push(await run(tables));
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `metrics-vs-exporter-pg${opts.major}.json`);
  fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
  const md = [
    '| tables | tool | scrape p50 ms | first scrape ms | series | SQL statements per scrape |',
    '|---|---|---|---|---|---|',
    ...all.flatMap((r) =>
      [
        ['pgscope (every scrape collects)', r.pgscope],
        ['pgscope (default 10 s TTL)', r.pgscopeCached],
        ['postgres_exporter 0.11.1', r.postgresExporter],
      ]
        .filter(([, m]) => m)
        .map(
          ([name, m]) =>
            `| ${r.tables} | ${name} | ${m.scrapeP50Ms} | ${m.firstScrapeMs} | ${m.series} | ${m.sqlStatementsPerScrape} |`,
        ),
    ),
  ].join('\n');
  fs.writeFileSync(file.replace(/\.json$/, '.md'), `${md}\n`);
  stage(`wrote ${path.relative(process.cwd(), file)}`);
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
