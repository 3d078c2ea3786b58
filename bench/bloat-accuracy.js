#!/usr/bin/env node
/**
 * Bloat accuracy: stages scenarios on a real PostgreSQL, computes the truth by rebuilding each relation (a copy
 * with the same rows and fillfactor, indexes built after the load), and prints pgscope's estimate and measured
 * figures against it.
 *   npm run bench:bloat                 # PostgreSQL 17
 *   npm run bench:bloat -- --pg 13      # another major (13–18)
 * Writes bench/results/bloat-accuracy-pg<N>.{md,json}. Needs `npm run build` first (npm run bench:bloat does it).
 */
require('reflect-metadata');
const fs = require('node:fs');
const path = require('node:path');
const postgres = require('postgres');
const { EmbeddedPostgres } = require('../dist/embedded/embedded');
const { createApp } = require('../dist/app.setup');
const { loadEnv } = require('../dist/config/env');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const major = Number(arg('pg', '17'));
const rows = Number(arg('rows', '40000'));

/** Each scenario: setup SQL (run statement by statement), the table to judge, its fillfactor, and an index. */
const scenarios = [
  {
    name: 'fresh table',
    table: 'fresh',
    ff: 100,
    index: 'fresh_idx',
    indexDef: '(id)',
    setup: [
      `create table fresh (id int, n bigint, label text) with (autovacuum_enabled = false)`,
      `insert into fresh select g, g * 7, 'label-' || g from generate_series(1, ${rows}) g`,
      `create index fresh_idx on fresh (id)`,
      `vacuum analyze fresh`,
    ],
  },
  {
    name: '50% deleted, VACUUM ANALYZE',
    table: 'del50',
    ff: 100,
    index: 'del50_idx',
    indexDef: '(id)',
    setup: [
      `create table del50 (id int, n bigint, label text) with (autovacuum_enabled = false)`,
      `insert into del50 select g, g * 7, 'label-' || g from generate_series(1, ${rows}) g`,
      `create index del50_idx on del50 (id)`,
      `delete from del50 where id % 2 = 0`,
      `vacuum analyze del50`,
    ],
  },
  {
    name: '80% deleted, VACUUM ANALYZE',
    table: 'del80',
    ff: 100,
    index: 'del80_idx',
    indexDef: '(id)',
    setup: [
      `create table del80 (id int, n bigint, label text) with (autovacuum_enabled = false)`,
      `insert into del80 select g, g * 7, 'label-' || g from generate_series(1, ${rows}) g`,
      `create index del80_idx on del80 (id)`,
      `delete from del80 where id % 5 <> 0`,
      `vacuum analyze del80`,
    ],
  },
  {
    name: 'non-HOT updates of every row',
    table: 'upd',
    ff: 100,
    index: 'upd_idx',
    indexDef: '(n)',
    setup: [
      `create table upd (id int, n bigint, label text) with (autovacuum_enabled = false)`,
      `insert into upd select g, g, 'label-' || g from generate_series(1, ${rows}) g`,
      `create index upd_idx on upd (n)`,
      `update upd set n = n + 1`,
      `vacuum analyze upd`,
    ],
  },
  {
    name: 'fillfactor 70, fresh',
    table: 'ff70',
    ff: 70,
    setup: [
      `create table ff70 (id int, n bigint, label text) with (fillfactor = 70, autovacuum_enabled = false)`,
      `insert into ff70 select g, g * 7, 'label-' || g from generate_series(1, ${rows}) g`,
      `vacuum analyze ff70`,
    ],
  },
  {
    name: 'fillfactor 70, 50% deleted',
    table: 'ff70del',
    ff: 70,
    setup: [
      `create table ff70del (id int, n bigint, label text) with (fillfactor = 70, autovacuum_enabled = false)`,
      `insert into ff70del select g, g * 7, 'label-' || g from generate_series(1, ${rows}) g`,
      `delete from ff70del where id % 2 = 0`,
      `vacuum analyze ff70del`,
    ],
  },
  {
    name: 'padding-prone column order, fresh',
    table: 'padding',
    ff: 100,
    setup: [
      `create table padding (a bool, b int8, c bool, d int8, e bool, f int8, g int2, h int8) with (autovacuum_enabled = false)`,
      `insert into padding select true, g, false, g, true, g, 1, g from generate_series(1, ${rows}) g`,
      `vacuum analyze padding`,
    ],
  },
  {
    name: 'a column without statistics, 50% deleted',
    table: 'nostats',
    ff: 100,
    setup: [
      `create table nostats (id int, label text, note text) with (autovacuum_enabled = false)`,
      `insert into nostats select g, 'label-' || g, 'note ' || repeat('n', g % 40) from generate_series(1, ${rows}) g`,
      `delete from nostats where id % 2 = 0`,
      `vacuum nostats`,
      `analyze nostats (id, label)`,
    ],
  },
  {
    name: 'stale statistics (50% deleted after ANALYZE, VACUUM only)',
    table: 'stale',
    ff: 100,
    setup: [
      `create table stale (id int, n bigint, label text) with (autovacuum_enabled = false)`,
      `insert into stale select g, g * 7, 'label-' || g from generate_series(1, ${rows}) g`,
      `vacuum analyze stale`,
      `delete from stale where id % 2 = 0`,
      `vacuum stale`,
    ],
  },
  {
    name: 'TOAST-heavy, 50% deleted',
    table: 'toasty',
    ff: 100,
    setup: [
      `create table toasty (id int, doc text) with (autovacuum_enabled = false)`,
      `alter table toasty alter column doc set storage external`,
      `insert into toasty select g, repeat(md5(g::text), 100) from generate_series(1, ${Math.round(rows / 8)}) g`,
      `delete from toasty where id % 2 = 0`,
      `vacuum analyze toasty`,
    ],
  },
  {
    name: 'partition of a partitioned table, 50% deleted',
    table: 'parts_1',
    ff: 100,
    setup: [
      `create table parts (id int, n bigint, label text) partition by range (id)`,
      `create table parts_1 partition of parts for values from (0) to (${rows / 2}) with (autovacuum_enabled = false)`,
      `create table parts_2 partition of parts for values from (${rows / 2}) to (${rows * 2}) with (autovacuum_enabled = false)`,
      `insert into parts select g, g, 'label-' || g from generate_series(1, ${rows}) g`,
      `delete from parts where id % 2 = 0`,
      `vacuum analyze parts_1`,
      `vacuum analyze parts_2`,
      `analyze parts`,
    ],
  },
  {
    name: 'btree on text, 50% deleted and updated',
    table: 'btext',
    ff: 100,
    index: 'btext_idx',
    indexDef: '(label)',
    setup: [
      `create table btext (id int, label text) with (autovacuum_enabled = false)`,
      `insert into btext select g, md5(g::text) from generate_series(1, ${rows}) g`,
      `create index btext_idx on btext (label)`,
      `delete from btext where id % 2 = 0`,
      `update btext set label = md5(label) where id % 3 = 0`,
      `vacuum analyze btext`,
    ],
  },
  {
    name: 'btree on bigint, 50% deleted',
    table: 'bbig',
    ff: 100,
    index: 'bbig_idx',
    indexDef: '(n)',
    setup: [
      `create table bbig (id int, n bigint) with (autovacuum_enabled = false)`,
      `insert into bbig select g, g * 1000 from generate_series(1, ${rows}) g`,
      `create index bbig_idx on bbig (n)`,
      `delete from bbig where id % 2 = 0`,
      `vacuum analyze bbig`,
    ],
  },
  {
    name: 'deduplicated low-cardinality btree, 50% deleted',
    table: 'dedup',
    ff: 100,
    index: 'dedup_idx',
    indexDef: '(status)',
    setup: [
      `create table dedup (id int, status text) with (autovacuum_enabled = false)`,
      `insert into dedup select g, 'status-' || (g % 5) from generate_series(1, ${rows}) g`,
      `create index dedup_idx on dedup (status)`,
      `delete from dedup where id % 2 = 0`,
      `vacuum analyze dedup`,
    ],
  },
  {
    // The case that was 'high' while 38 points off: every value rewritten longer after the last ANALYZE.
    name: 'btree on text, every value rewritten longer after ANALYZE, VACUUM only',
    table: 'grown',
    ff: 100,
    index: 'grown_idx',
    indexDef: '(label)',
    setup: [
      `create table grown (id int, label text) with (autovacuum_enabled = false)`,
      `insert into grown select g, 'l' || g from generate_series(1, ${rows}) g`,
      `create index grown_idx on grown (label)`,
      `analyze grown`,
      `update grown set label = repeat('longer-', 6) || id`,
      `vacuum grown`,
    ],
  },
  {
    name: 'btree on text, every value rewritten shorter after ANALYZE, VACUUM only',
    table: 'shrunk',
    ff: 100,
    index: 'shrunk_idx',
    indexDef: '(label)',
    setup: [
      `create table shrunk (id int, label text) with (autovacuum_enabled = false)`,
      `insert into shrunk select g, repeat('longer-', 6) || g from generate_series(1, ${rows}) g`,
      `create index shrunk_idx on shrunk (label)`,
      `analyze shrunk`,
      `update shrunk set label = 'l' || id`,
      `vacuum shrunk`,
    ],
  },
  {
    name: 'two-column btree (int, text) with NULLs, 50% deleted',
    table: 'multi',
    ff: 100,
    index: 'multi_idx',
    indexDef: '(grp, note)',
    setup: [
      `create table multi (id int, grp int, note text) with (autovacuum_enabled = false)`,
      `insert into multi select g, g % 1000, case when g % 3 = 0 then null else 'note-' || g end from generate_series(1, ${rows}) g`,
      `create index multi_idx on multi (grp, note)`,
      `delete from multi where id % 2 = 0`,
      `vacuum analyze multi`,
    ],
  },
  {
    name: 'btree on uuid filled in random order (page splits), fresh',
    table: 'randuuid',
    ff: 100,
    index: 'randuuid_idx',
    indexDef: '(u)',
    setup: [
      `create table randuuid (id int, u uuid) with (autovacuum_enabled = false)`,
      `create index randuuid_idx on randuuid (u)`,
      `insert into randuuid select g, md5(g::text)::uuid from generate_series(1, ${rows}) g`,
      `vacuum analyze randuuid`,
    ],
  },
  {
    name: 'deleted but not vacuumed (50%)',
    table: 'novac',
    ff: 100,
    setup: [
      `create table novac (id int, n bigint, label text) with (autovacuum_enabled = false)`,
      `insert into novac select g, g * 7, 'label-' || g from generate_series(1, ${rows}) g`,
      `analyze novac`,
      `delete from novac where id % 2 = 0`,
    ],
  },
];

/** Makes this connection's pending statistics visible (15+: flush now; 13/14: past the collector's interval). */
async function flush(sql) {
  if (major >= 15) await sql`select pg_stat_force_next_flush()`;
  else await new Promise((r) => setTimeout(r, 700));
  await sql`select 1`;
  await new Promise((r) => setTimeout(r, 300));
}

async function truthOf(sql, s) {
  await sql.unsafe(`drop table if exists truth_copy`);
  await sql.unsafe(`create table truth_copy (like ${s.table} including storage) with (fillfactor = ${s.ff})`);
  await sql.unsafe(`insert into truth_copy select * from ${s.table}`);
  if (s.indexDef) await sql.unsafe(`create index truth_copy_idx on truth_copy ${s.indexDef}`);
  const [r] =
    await sql.unsafe(`select pg_relation_size('${s.table}')::int8 as heap, pg_relation_size('truth_copy')::int8 as copy
    ${s.index ? `, pg_relation_size('${s.index}')::int8 as idx, pg_relation_size('truth_copy_idx')::int8 as idx_copy` : ''}`);
  const ratio = (a, b) => Math.max(0, Number(a) - Number(b)) / Number(a);
  return { heap: ratio(r.heap, r.copy), index: s.index ? ratio(r.idx, r.idx_copy) : null };
}

async function main() {
  const server = await EmbeddedPostgres.start({ major });
  const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
  await admin.unsafe('create database bloat');
  await admin.end();
  const sql = postgres(server.url('bloat'), { max: 1, onnotice: () => undefined });
  await sql.unsafe('create extension pgstattuple');
  const app = await createApp(
    loadEnv({ DATABASE_URL: server.url('bloat'), QUERY_TIMEOUT_MS: '30000', SIZES_MAX_AGE_MS: '0', HISTORY: 'off' }),
  );
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const get = async (url) => (await app.inject({ method: 'GET', url })).json();
  const results = [];
  try {
    for (const s of scenarios) {
      process.stdout.write(`[bloat-accuracy pg${major}] ${s.name}\n`);
      for (const stmt of s.setup) {
        // Pending counts flushed after a VACUUM/ANALYZE would be added on top of what it reports.
        if (/^(vacuum|analyze)/.test(stmt)) await flush(sql);
        await sql.unsafe(stmt);
      }
      await flush(sql);
      const est = await get(`/api/db/monitoring/postgres/indexes?table=${s.table}`);
      const mea = await get(`/api/db/monitoring/postgres/indexes?table=${s.table}&bloat=measured`);
      const truth = await truthOf(sql, s);
      const row = (kind, estBloat, meaBloat, t) => ({
        scenario: s.name,
        relation: kind,
        truth: t,
        estimate: estBloat?.reclaimableRatio ?? null,
        confidence: estBloat?.confidence ?? null,
        reasons: estBloat?.reasons ?? [],
        measured: meaBloat?.reclaimableRatio ?? null,
      });
      const table = est.tables.find((t) => t.table === s.table);
      const tableM = mea.tables.find((t) => t.table === s.table);
      results.push(row(`table ${s.table}`, table.bloat, tableM.bloat, truth.heap));
      if (s.index) {
        const ix = est.indexes.find((i) => i.index === s.index);
        const ixM = mea.indexes.find((i) => i.index === s.index);
        results.push(row(`btree ${s.index}`, ix.bloat, ixM.bloat, truth.index));
      }
    }
  } finally {
    await app.close();
    await sql.end();
    await server.stop();
  }
  const pct = (x) => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
  const pp = (a, b) => (a === null || b === null ? '—' : `${(100 * (a - b)).toFixed(1)}`);
  const lines = [
    `# Bloat accuracy, PostgreSQL ${major} (${rows} rows per scenario)`,
    '',
    'Truth = bytes given back by rebuilding the same rows with the same fillfactor (indexes built after the load).',
    'Error = figure − truth, in percentage points.',
    '',
    '| scenario | relation | truth | estimate | error (pp) | confidence | reasons | measured | error (pp) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.scenario} | ${r.relation} | ${pct(r.truth)} | ${pct(r.estimate)} | ${pp(r.estimate, r.truth)} | ${r.confidence} | ${r.reasons.join(', ')} | ${pct(r.measured)} | ${pp(r.measured, r.truth)} |`,
    ),
  ];
  const high = results.filter((r) => r.confidence === 'high' && r.estimate !== null);
  const offHigh = high.filter((r) => Math.abs(r.estimate - r.truth) > 0.03);
  const offUnmarked = results.filter(
    (r) =>
      r.estimate !== null && Math.abs(r.estimate - r.truth) > 0.05 && !['low', 'unavailable'].includes(r.confidence),
  );
  const measuredOff = results.filter((r) => r.measured !== null && Math.abs(r.measured - r.truth) > 0.02);
  const worstHigh = Math.max(0, ...high.map((r) => Math.abs(r.estimate - r.truth)));
  lines.push(
    '',
    `Largest error at high confidence: ${(100 * worstHigh).toFixed(1)} pp (high requires fresh statistics, no ` +
      'deduplication to model, no partial or expression index, no TOAST-heavy heap and at least 10 pages).',
    '',
    `Targets: high-confidence within ±3 pp: ${high.length - offHigh.length}/${high.length}; ` +
      `off by > 5 pp yet not low/unavailable: ${offUnmarked.length}; measured within ±2 pp: ${results.length - measuredOff.length}/${results.length}.`,
  );
  const text = lines.join('\n');
  process.stdout.write(`\n${text}\n`);
  const out = path.join(__dirname, 'results', `bloat-accuracy-pg${major}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(`${out}.md`, `${text}\n`);
  fs.writeFileSync(`${out}.json`, `${JSON.stringify({ major, rows, results }, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
