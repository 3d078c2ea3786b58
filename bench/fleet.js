#!/usr/bin/env node
/**
 * Fleet benchmark: one pgscope watching 50 targets (40 on three embedded servers, every one with several databases,
 * each as its own role; 5 on refused ports and 5 on black holes that accept and never answer), and, in one run:
 *  - the service's peak RSS once every database of every target has been read (overview, indexes, cache);
 *  - GET /targets p50;
 *  - a healthy target's p50 alone, then while the 10 dead targets are being asked continuously;
 *  - the most connections each target ever held on its server (pg_stat_activity by role, sampled every 20 ms),
 *    against its poolMax.
 *   npm run bench:fleet            (flags: --servers 3 --databases 5 --healthy 40 --dead 10 --requests 200 --pg 17)
 */
require('reflect-metadata');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const postgres = require('postgres');
const { EmbeddedPostgres, freePort } = require('../dist/embedded/embedded');

const flag = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const opts = {
  servers: flag('servers', 3),
  databases: flag('databases', 5),
  healthy: flag('healthy', 40),
  dead: flag('dead', 10),
  requests: flag('requests', 200),
  poolMax: flag('poolmax', 2),
  major: flag('pg', 17),
  out: (() => {
    const i = process.argv.indexOf('--out');
    return i > 0 ? process.argv[i + 1] : path.join(__dirname, 'results');
  })(),
};
const stage = (text) => process.stdout.write(`[bench fleet] ${text}\n`);
const API = '/api/db/monitoring/postgres';
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function prepareServer(server, index) {
  const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
  for (let d = 0; d < opts.databases; d++) {
    await admin.unsafe(`create database fleet_${d}`);
    const db = postgres(server.url(`fleet_${d}`), { max: 1, onnotice: () => undefined });
    await db.unsafe(`
      create extension pg_stat_statements; create extension pg_buffercache;
      do $$ begin for i in 1..20 loop
        execute format('create table t%s (id int primary key, a int, b text)', i);
        execute format('create index t%s_a on t%s (a)', i, i);
        execute format('insert into t%s select g, g %% 10, ''v'' || g from generate_series(1, 100) g', i);
      end loop; end $$; analyze;`);
    await db.end();
  }
  await admin.end();
  return index;
}

function startService(file) {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
      cwd: path.join(__dirname, '..'),
      env: {
        ...process.env,
        TARGETS_FILE: file,
        PORT: '0',
        RATE_LIMIT_PER_MINUTE: '0',
        HISTORY: 'off',
        CACHE_TTL_MS: '0',
        LOG_LEVEL: 'log',
        DATABASE_URL: '',
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
    setTimeout(() => reject(new Error(`service did not start: ${out}`)), 120_000).unref();
  });
}

const peakRssMb = (pid) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function timed(base, url, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(base + url);
    await res.arrayBuffer();
    times.push(performance.now() - t);
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function main() {
  fs.mkdirSync(opts.out, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-fleet-bench-'));
  stage(`starting ${opts.servers} PostgreSQL ${opts.major} servers with ${opts.databases} databases each`);
  const servers = [];
  for (let s = 0; s < opts.servers; s++) {
    servers.push(await EmbeddedPostgres.start({ major: opts.major, settings: { max_connections: 300 } }));
  }
  const holes = [];
  const sockets = [];
  let service;
  let sampling = true;
  try {
    await Promise.all(servers.map(prepareServer));
    stage(`${opts.healthy} healthy targets (one role each), ${opts.dead} dead ones`);
    const targets = [];
    for (let t = 0; t < opts.healthy; t++) {
      const server = servers[t % servers.length];
      const role = `fleet_t${t}`;
      const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
      await admin.unsafe(`create role ${role} login password 'pw${t}' in role pg_monitor`);
      await admin.end();
      targets.push({
        name: `t${t}`,
        url: `postgres://${role}:pw${t}@127.0.0.1:${server.port}/fleet_${t % opts.databases}`,
        databases: 'all',
        poolMax: opts.poolMax,
        labels: { server: `s${t % servers.length}` },
        role,
        server: t % servers.length,
      });
    }
    for (let t = 0; t < opts.dead; t++) {
      let port;
      if (t % 2 === 0) {
        port = await freePort();
      } else {
        const hole = net.createServer((s) => void sockets.push(s));
        await new Promise((r) => hole.listen(0, '127.0.0.1', r));
        holes.push(hole);
        port = hole.address().port;
      }
      targets.push({ name: `dead${t}`, url: `postgres://x:y@127.0.0.1:${port}/x`, queryTimeoutMs: 1000, dead: true });
    }
    const file = path.join(dir, 'targets.yaml');
    fs.writeFileSync(
      file,
      JSON.stringify({
        targets: targets.map(({ name, url, databases, poolMax, labels, queryTimeoutMs }) =>
          Object.fromEntries(
            Object.entries({ name, url, databases, poolMax, labels, queryTimeoutMs }).filter(
              ([, v]) => v !== undefined,
            ),
          ),
        ),
      }),
    );

    // Connections per target (its role) on its server, sampled all along.
    const watchers = servers.map((s) => postgres(s.url(), { max: 1, onnotice: () => undefined }));
    const peak = new Map();
    const sampler = (async () => {
      while (sampling) {
        for (const w of watchers) {
          const rows =
            await w`select usename, count(*)::int as n from pg_stat_activity where usename like 'fleet_t%' group by usename`;
          for (const r of rows) peak.set(r.usename, Math.max(peak.get(r.usename) ?? 0, r.n));
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    stage('starting the service');
    service = await startService(file);
    const healthy = targets.filter((t) => !t.dead);
    stage('reading every database of every target (overview, indexes, cache)');
    for (const t of healthy) {
      await fetch(`${service.base}${API}?target=${t.name}`);
      const list = await (await fetch(`${service.base}/api/db/monitoring/targets`)).json();
      const databases = list.targets.find((x) => x.name === t.name).databases;
      await Promise.all(
        databases.map(async (d) => {
          await (await fetch(`${service.base}${API}/indexes?target=${t.name}&database=${d}`)).arrayBuffer();
          await (await fetch(`${service.base}${API}/cache?target=${t.name}&database=${d}`)).arrayBuffer();
        }),
      );
    }
    const listing = await (await fetch(`${service.base}/api/db/monitoring/targets`)).json();
    const databasesWatched = listing.targets.reduce((n, t) => n + t.databases.length, 0);

    stage(`GET /targets, ${opts.requests} times`);
    const targetsLatency = await timed(service.base, '/api/db/monitoring/targets', opts.requests);

    const probe = `${API}/activity?target=t0`;
    stage(`a healthy target alone: ${probe}`);
    const alone = await timed(service.base, probe, opts.requests);
    stage('the same while the dead targets are asked continuously (20 requests in flight)');
    let asking = true;
    const dead = targets.filter((t) => t.dead);
    const askers = Array.from({ length: 20 }, async (_, i) => {
      while (asking)
        await (await fetch(`${service.base}${API}/activity?target=${dead[i % dead.length].name}`)).arrayBuffer();
    });
    await new Promise((r) => setTimeout(r, 500));
    const meanwhile = await timed(service.base, probe, opts.requests);
    asking = false;
    await Promise.all(askers);
    const rss = round(peakRssMb(service.pid), 1);
    sampling = false;
    await sampler;
    await Promise.all(watchers.map((w) => w.end()));
    const deadStatuses = Object.fromEntries(
      listing.targets
        .filter((t) => t.name.startsWith('dead'))
        .map((t) => [t.name, `${t.status} ${t.lastError?.code ?? ''}`.trim()]),
    );
    const maxConnections = Math.max(...healthy.map((t) => peak.get(t.role) ?? 0));
    const overBudget = healthy.filter((t) => (peak.get(t.role) ?? 0) > opts.poolMax).map((t) => t.name);

    const result = {
      meta: {
        ...opts,
        targets: targets.length,
        databasesWatched,
        cores: os.cpus().length,
        at: new Date().toISOString(),
      },
      peakRssMb: rss,
      targetsP50Ms: round(targetsLatency.p50),
      targetsP99Ms: round(targetsLatency.p99),
      healthyAloneP50Ms: round(alone.p50),
      healthyWithDeadP50Ms: round(meanwhile.p50),
      healthyRatio: round(meanwhile.p50 / alone.p50, 3),
      maxConnectionsPerTarget: maxConnections,
      overBudget,
      deadStatuses,
    };
    const lines = [
      `# pgscope fleet benchmark: ${targets.length} targets (${opts.healthy} healthy on ${opts.servers} servers, ${opts.dead} dead), ${databasesWatched} databases watched`,
      '',
      `PostgreSQL ${opts.major}, ${result.meta.cores} cores. Each healthy target is its own role with \`databases: all\` and poolMax ${opts.poolMax}; the dead ones are refused ports and black holes (they accept and never answer), queryTimeoutMs 1000.`,
      '',
      '| measure | value | target |',
      '|---|---|---|',
      `| peak RSS after reading every database of every target | ${rss} MB | ≤ 300 MB |`,
      `| GET /targets p50 (p99) | ${result.targetsP50Ms} ms (${result.targetsP99Ms} ms) | ≤ 20 ms |`,
      `| a healthy target (/activity?target=t0) p50, alone | ${result.healthyAloneP50Ms} ms | |`,
      `| the same while 20 requests to the dead targets are in flight | ${result.healthyWithDeadP50Ms} ms (${((result.healthyRatio - 1) * 100).toFixed(1)}%) | within 10% |`,
      `| most connections a target held on its server (sampled every 20 ms) | ${maxConnections} | ≤ poolMax (${opts.poolMax}) |`,
      '',
      `Dead targets as /targets reports them: ${Object.entries(deadStatuses)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}.`,
    ];
    const text = lines.join('\n');
    process.stdout.write(`\n${text}\n`);
    const base = path.join(opts.out, `fleet-${targets.length}-pg${opts.major}`);
    fs.writeFileSync(`${base}.md`, `${text}\n`);
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    sampling = false;
    if (service) {
      const exited = new Promise((r) => service.child.once('exit', r));
      service.child.kill('SIGTERM');
      await exited;
    }
    for (const s of sockets) s.destroy();
    for (const h of holes) h.close();
    for (const s of servers) await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
