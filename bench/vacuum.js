#!/usr/bin/env node
/**
 * Maintenance benchmark: GET /vacuum (uncached, through the application) at N tables (10,000 by default) against
 * reading pg_class joined with pg_stat_user_tables directly (the floor any answer about every table pays), p50 of
 * both in the same run (target: ≤ 2×).
 *   npm run bench:vacuum        (flags: --tables 10000 --requests 30 --pg 17)
 */
require('reflect-metadata');
const fs = require('node:fs');
const path = require('node:path');
const postgres = require('postgres');
const { EmbeddedPostgres } = require('../dist/embedded/embedded');
const { createApp } = require('../dist/app.setup');
const { loadEnv } = require('../dist/config/env');
const { targetFromUrl } = require('../dist/targets/targets.config');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const opts = { tables: arg('tables', 10000), requests: arg('requests', 30), major: arg('pg', 17) };
const stage = (text) => process.stdout.write(`[bench vacuum] ${new Date().toISOString().slice(11, 19)} ${text}\n`);
const p50 = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const round = (v) => Math.round(v * 100) / 100;

(async () => {
  stage(`PostgreSQL ${opts.major}, ${opts.tables} tables`);
  const server = await EmbeddedPostgres.start({ major: opts.major, settings: { max_locks_per_transaction: 1024 } });
  const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
  let app;
  try {
    for (let from = 0; from < opts.tables; from += 500) {
      await admin.unsafe(`do $$ begin for i in ${from}..${Math.min(from + 500, opts.tables) - 1} loop
        execute format('create table t%s (id int primary key, v int) with (autovacuum_enabled = %s)', i, i % 10 <> 0);
        execute format('insert into t%s select g, g from generate_series(1, 10) g', i);
      end loop; end $$;`);
    }
    await admin.unsafe('analyze');
    await admin.unsafe('create sequence s1; create sequence s2');
    const env = loadEnv({ CACHE_TTL_MS: '0', LOG_LEVEL: 'warn', HISTORY: 'off', RATE_LIMIT_PER_MINUTE: '0' });
    app = await createApp(env, { targets: [targetFromUrl('bench', server.url(), env, {})], logger: ['warn', 'error'] });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();

    const raw = postgres(server.url(), { max: 1, onnotice: () => undefined });
    const rawTimes = [];
    const httpTimes = [];
    // Interleaved, so both see the same server state and cache warmth.
    for (let i = 0; i < opts.requests + 3; i++) {
      let t0 = performance.now();
      await raw.begin(
        'read only',
        (sql) =>
          sql`select c.oid, c.relname, c.reltuples, c.relfrozenxid, c.relminmxid, c.reloptions, s.*
              from pg_class c join pg_stat_user_tables s on s.relid = c.oid`,
      );
      const rawMs = performance.now() - t0;
      t0 = performance.now();
      const res = await app.inject({ url: '/api/db/monitoring/postgres/vacuum?limit=50' });
      const httpMs = performance.now() - t0;
      if (res.statusCode !== 200) throw new Error(`vacuum: ${res.statusCode} ${res.body}`);
      if (i >= 3) {
        rawTimes.push(rawMs);
        httpTimes.push(httpMs);
      }
    }
    await raw.end();
    const results = {
      watched: `PostgreSQL ${opts.major}`,
      tables: opts.tables,
      requests: opts.requests,
      vacuumP50Ms: round(p50(httpTimes)),
      rawSqlP50Ms: round(p50(rawTimes)),
      ratio: round(p50(httpTimes) / p50(rawTimes)),
    };
    stage(JSON.stringify(results));
    const dir = path.join(__dirname, 'results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `vacuum-${opts.tables}-pg${opts.major}.json`);
    fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    stage(`wrote ${path.relative(process.cwd(), file)}`);
  } finally {
    await app?.close();
    await admin.end();
    await server.stop();
  }
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
