#!/usr/bin/env node
/**
 * Scale-out, the full scenario: 3 pgscope processes (dist/main.js), one external store, 30 targets (10 databases on
 * each of 3 embedded servers), LEASE_TAKEOVER_SECONDS at its default (15). Measured in one run:
 *   - the cost on the watched servers: statements pgscope's role ran there (pg_stat_statements, by its userid) and
 *     their execution time, per target and minute, one instance alone and then three sharing the targets;
 *   - the spread of the leases over the three;
 *   - the store's write rate (commits and rows inserted a second, pg_stat_database of the store);
 *   - the takeover time after SIGKILL of the instance holding most leases (5 times; a replacement started after
 *     each), from the kill to the first snapshot of each of its targets by another instance (the store's clock);
 *   - the same after SIGSTOP (a hung host: its sockets stay open, so only the leases' expiry frees them; 3 times);
 *   - that no interval was counted twice (every snapshot's deltas start at the previous snapshot of its target).
 *   npm run bench:scale-out          (flags: --pg 17 --seconds 60 --kills 5 --freezes 3)
 */
require('reflect-metadata');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const postgres = require('postgres');
const { EmbeddedPostgres } = require('../dist/embedded/embedded');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const opts = { major: arg('pg', 17), seconds: arg('seconds', 60), kills: arg('kills', 5), freezes: arg('freezes', 3) };
const SERVERS = 3;
const DATABASES = 10;
const TARGETS = SERVERS * DATABASES;
const MAIN = path.join(__dirname, '..', 'dist', 'main.js');
const ROLE = 'pgscope_bench';
const stage = (text) => process.stdout.write(`[bench scale-out] ${new Date().toISOString().slice(11, 19)} ${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (v, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function waitFor(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function startInstance(id, env) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', INSTANCE_ID: id, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance = { id, child, log: '', alive: () => child.exitCode === null && child.signalCode === null };
  const onData = (chunk) => (instance.log += chunk.toString());
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return waitFor(async () => /pgscope is ready/.test(instance.log) && instance, 60_000, `${id} to start`);
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-scale-bench-'));
  stage(`store and ${SERVERS} watched PostgreSQL ${opts.major} servers, ${TARGETS} targets`);
  // A directory of its own: the server's user must reach it.
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-scale-store-'));
  const store = await EmbeddedPostgres.start({ dataDir: storeDir, settings: { max_connections: 200 } });
  const storeSql = postgres(store.url(), { max: 2, onnotice: () => undefined });
  const servers = [];
  const targets = [];
  const password = 'bench-password';
  for (let s = 0; s < SERVERS; s++) {
    const server = await EmbeddedPostgres.start({ major: opts.major, settings: { max_connections: 200 } });
    const sql = postgres(server.url(), { max: 1, onnotice: () => undefined });
    await sql.unsafe(`create role ${ROLE} login password '${password}'; grant pg_monitor to ${ROLE}`);
    await sql.unsafe('create extension pg_stat_statements');
    for (let d = 1; d <= DATABASES; d++) {
      const db = `s${s}_d${d}`;
      await sql.unsafe(`create database ${db}`);
      const dbSql = postgres(server.url(db), { max: 1, onnotice: () => undefined });
      await dbSql.unsafe(
        `create extension pg_stat_statements; ` +
          Array.from({ length: 10 }, (_, i) => `create table t${i} (id int primary key, v text)`).join('; '),
      );
      await dbSql.end();
      const url = new URL(server.url(db));
      url.username = ROLE;
      url.password = password;
      targets.push({ name: `s${s}-d${d}`, url: url.toString(), poolMax: 3 });
    }
    servers.push({ server, sql });
  }
  const file = path.join(work, 'targets.json');
  fs.writeFileSync(file, JSON.stringify({ targets }));
  const env = {
    TARGETS_FILE: file,
    HISTORY_DATABASE_URL: store.url(),
    HISTORY_STATEMENTS_INTERVAL: '10s',
    HISTORY_DATABASE_INTERVAL: '10s',
    HISTORY_RELATIONS_INTERVAL: '30s',
    HISTORY_SIZES_INTERVAL: '60s',
    LOAD_SAMPLE_MS: '1000',
    LOG_LEVEL: 'log',
  };

  const leases = () => storeSql`
    select l.holder, count(*)::int as n from leases l where l.expires_at > now() group by l.holder order by l.holder`;
  const settled = async (ids) => {
    const rows = await leases();
    const total = rows.reduce((n, r) => n + r.n, 0);
    const fair = rows.every((r) => ids.includes(r.holder) && Math.abs(r.n - TARGETS / ids.length) < 1);
    return total === TARGETS && rows.length === ids.length && fair && rows;
  };
  /** Statements and their time, run by pgscope's role on every watched server. */
  const serverCost = async () => {
    let calls = 0;
    let ms = 0;
    for (const { sql } of servers) {
      const [r] = await sql`
        select coalesce(sum(calls), 0)::int8 as calls, coalesce(sum(total_exec_time + total_plan_time), 0) as ms
          from pg_stat_statements where userid = (select oid from pg_roles where rolname = ${ROLE})`;
      calls += Number(r.calls);
      ms += Number(r.ms);
    }
    return { calls, ms };
  };
  const storeCounters = async () => {
    const [r] = await storeSql`
      select xact_commit::int8 as commits, tup_inserted::int8 as inserted from pg_stat_database
       where datname = current_database()`;
    return { commits: Number(r.commits), inserted: Number(r.inserted) };
  };
  const snapshotsSince = async (at) =>
    Number((await storeSql`select count(*)::int as n from snapshots where at > ${at}`)[0].n);
  const storeNow = async () => (await storeSql`select clock_timestamp() as now`)[0].now;

  /** The cost of collecting the targets for opts.seconds, once settled (every interval of the window inside). */
  async function measure(ids) {
    await waitFor(() => settled(ids), 60_000, `leases to settle over ${ids.join(', ')}`);
    // Past the first collections of every family (the baselines taken when leases were acquired).
    await sleep(12_000);
    const c0 = await serverCost();
    const s0 = await storeCounters();
    const t0 = await storeNow();
    const started = Date.now();
    await sleep(opts.seconds * 1000);
    const minutes = (Date.now() - started) / 60_000;
    const c1 = await serverCost();
    const s1 = await storeCounters();
    const snapshots = await snapshotsSince(t0);
    const spread = (await leases()).map((r) => ({ instance: r.holder, leases: r.n }));
    const seconds = minutes * 60;
    return {
      instances: ids.length,
      spread,
      perTargetPerMinute: {
        statements: round((c1.calls - c0.calls) / TARGETS / minutes, 1),
        execMs: round((c1.ms - c0.ms) / TARGETS / minutes, 2),
        snapshots: round(snapshots / TARGETS / minutes, 2),
      },
      store: {
        commitsPerSecond: round((s1.commits - s0.commits) / seconds, 1),
        rowsInsertedPerSecond: round((s1.inserted - s0.inserted) / seconds, 1),
      },
    };
  }

  const instances = [];
  let next = 1;
  const launch = async () => {
    const i = await startInstance(`i${next++}`, env);
    instances.push(i);
    return i;
  };
  const live = () => instances.filter((i) => i.alive() && !i.frozen);
  try {
    stage('one instance alone');
    const one = await launch();
    const single = await measure([one.id]);
    stage(`alone: ${JSON.stringify(single.perTargetPerMinute)}`);
    stage('three instances');
    await launch();
    await launch();
    const three = await measure(live().map((i) => i.id));
    stage(`three: ${JSON.stringify(three.perTargetPerMinute)}, spread ${JSON.stringify(three.spread)}`);

    /** Stops the busiest instance, returns the seconds until another wrote a snapshot of each of its targets. */
    async function takeover(how) {
      const rows = await storeSql`
        select l.holder, json_agg(l.target_id) as ids from leases l where l.expires_at > now() group by l.holder
         order by count(*) desc limit 1`;
      const victim = instances.find((i) => i.id === rows[0].holder);
      const ids = rows[0].ids;
      const at = await storeNow();
      if (how === 'kill') victim.child.kill('SIGKILL');
      else {
        victim.child.kill('SIGSTOP');
        victim.frozen = true;
      }
      const firsts = await waitFor(
        async () => {
          const r = await storeSql`
            select target_id, min(at) as first from snapshots
             where at > ${at} and instance <> ${victim.id} and target_id = any(${`{${ids.join(',')}}`}::int[])
             group by target_id`;
          return r.length === ids.length && r;
        },
        120_000,
        `the targets of ${victim.id} to be taken over`,
      );
      const seconds = Math.max(...firsts.map((f) => (f.first.getTime() - at.getTime()) / 1000));
      if (how === 'freeze') {
        victim.child.kill('SIGKILL');
        victim.child.kill('SIGCONT');
      }
      await waitFor(async () => !victim.alive(), 10_000, `${victim.id} to exit`).catch(() => undefined);
      await launch();
      await waitFor(() => settled(live().map((i) => i.id)), 60_000, 'leases to settle again');
      return { victim: victim.id, targets: ids.length, seconds: round(seconds, 2) };
    }
    const kills = [];
    for (let k = 0; k < opts.kills; k++) {
      kills.push(await takeover('kill'));
      stage(
        `SIGKILL ${kills.at(-1).victim}: its ${kills.at(-1).targets} targets collected again after ${kills.at(-1).seconds} s`,
      );
    }
    const freezes = [];
    for (let k = 0; k < opts.freezes; k++) {
      freezes.push(await takeover('freeze'));
      stage(`SIGSTOP ${freezes.at(-1).victim}: taken over after ${freezes.at(-1).seconds} s`);
    }
    await sleep(12_000);
    const [{ broken }] = await storeSql`
      select count(*)::int as broken from (
        select prev_at, lag(at) over (partition by target_id, family, dbid order by at) as before from snapshots) s
       where prev_at is not null and prev_at is distinct from before`;
    const result = {
      date: new Date().toISOString(),
      postgres: opts.major,
      targets: TARGETS,
      leaseTakeoverSeconds: 15,
      cadences: { statements: '10s', database: '10s', relations: '30s', sizes: '60s', loadSampleMs: 1000 },
      single,
      three,
      costRatio: {
        statements: round(three.perTargetPerMinute.statements / single.perTargetPerMinute.statements, 3),
        snapshots: round(three.perTargetPerMinute.snapshots / single.perTargetPerMinute.snapshots, 3),
      },
      sigkill: { runs: kills, medianSeconds: median(kills.map((k) => k.seconds)) },
      sigstop: { runs: freezes, medianSeconds: median(freezes.map((k) => k.seconds)) },
      brokenChains: broken,
    };
    const out = path.join(__dirname, 'results', `scale-out-${TARGETS}-pg${opts.major}.json`);
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    stage(`wrote ${out}`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const i of instances) {
      if (i.alive()) {
        i.child.kill('SIGCONT');
        i.child.kill('SIGTERM');
      }
    }
    await sleep(3000);
    for (const i of instances) if (i.alive()) i.child.kill('SIGKILL');
    await storeSql.end();
    for (const { server, sql } of servers) {
      await sql.end();
      await server.stop();
    }
    await store.stop();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(storeDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
