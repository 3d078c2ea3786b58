#!/usr/bin/env node
/**
 * Soak: many concurrent clients across every endpoint against a pgscope with a small pool, then checks that
 * nothing answered 5xx, nothing was logged at error level, and memory came back near where it started.
 *   npm run soak -- --connections 200 --duration 30 --pg 17
 * The e2e suite runs the same `soak()` for a few seconds (test/faults.e2e-spec.ts).
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const autocannon = require('autocannon');

const API = '/api/db/monitoring/postgres';
const PATHS = [
  API,
  `${API}/activity`,
  `${API}/activity?orderBy=backendStart&limit=20`,
  `${API}/statements`,
  `${API}/statements?orderBy=calls&limit=10`,
  `${API}/indexes`,
  `${API}/indexes?unused=true&bloat=estimate`,
  `${API}/cache`,
  '/health/ready',
];

/** Resident set size of a process, bytes (Linux). */
function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN; // the process is gone: the caller sees it in the exit code and the log
  }
}

/** Starts dist/main.js with `env`; resolves when it logs its address. */
function startService(env) {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', '--require', path.join(__dirname, 'heap-probe.js')];
    const child = spawn(process.execPath, [...args, path.join(__dirname, '..', 'dist', 'main.js')], {
      env: { ...process.env, PORT: '0', HISTORY: 'off', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exit = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const onData = (chunk) => {
      output += chunk.toString();
      const m = /Swagger UI at (http:\/\/[^/\s]+)\/docs/.exec(output);
      if (m) {
        clearTimeout(giveUp);
        resolve({ child, baseUrl: m[1], output: () => output, exit });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exit.then(({ code, signal }) => {
      if (process.env.SOAK_DEBUG) console.error(`pgscope exited: ${code} ${signal}\n${output.slice(-3000)}`);
    });
    exit.then(({ code }) => reject(new Error(`pgscope exited (${code}) before it was ready:\n${output}`)));
    const giveUp = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pgscope did not log its address within 30 s (LOG_LEVEL must be log or lower):\n${output}`));
    }, 30_000).unref();
  });
}

/** Error-level lines of pgscope's log (Nest's console logger prints the level word). */
const errorLines = (output) => output.split('\n').filter((l) => /\b(ERROR|FATAL)\b/.test(l));

/** Live heap after a full collection, bytes (via heap-probe.js). */
async function heapOf(service) {
  const seen = service.output().length;
  service.child.kill('SIGUSR2');
  for (let i = 0; i < 200; i++) {
    const m = /HEAP (\d+)/.exec(service.output().slice(seen));
    if (m) return Number(m[1]);
    await new Promise((r) => setTimeout(r, 10));
  }
  return NaN;
}

/**
 * Runs `connections` clients for `durationS` seconds across every endpoint against `service` (from startService).
 * Returns the figures; throws nothing (the caller asserts).
 */
async function soak(service, { connections, durationS, warmupS = Math.max(2, Math.ceil(durationS / 5)) }) {
  const pid = service.child.pid;
  const run = (seconds) =>
    autocannon({
      url: service.baseUrl,
      connections,
      duration: seconds,
      // Each connection walks through every endpoint in turn.
      requests: PATHS.map((p) => ({ method: 'GET', path: p })),
      timeout: 60,
    });
  // Warm-up under the same load: V8 grows its heap and keeps it, the pool fills, code is compiled. The baseline
  // is taken after it, so what is compared is memory that keeps growing with time: a leak.
  const heapIdle = await heapOf(service);
  await run(warmupS);
  const heapStart = await heapOf(service);
  const rssStart = rssOf(pid);
  const logBefore = service.output().length;
  const statuses = {};
  let peakRss = rssStart;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(pid))), 250);
  const result = await run(durationS);
  clearInterval(sampler);
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
  const heapEnd = await heapOf(service);
  const rssEnd = rssOf(pid);
  const fivexx = Object.entries(statuses)
    .filter(([code]) => Number(code) >= 500)
    .reduce((sum, [, n]) => sum + n, 0);
  return {
    connections,
    durationS,
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    statuses,
    fivexx,
    errors: result.errors,
    timeouts: result.timeouts,
    errorLogLines: errorLines(service.output().slice(logBefore)),
    heapIdleMb: heapIdle / 2 ** 20,
    heapStartMb: heapStart / 2 ** 20,
    heapEndMb: heapEnd / 2 ** 20,
    rssStartMb: rssStart / 2 ** 20,
    rssPeakMb: peakRss / 2 ** 20,
    rssEndMb: rssEnd / 2 ** 20,
  };
}

module.exports = { soak, startService, PATHS };

if (require.main === module) {
  const flag = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  (async () => {
    const { EmbeddedPostgres } = require('../dist/embedded/embedded');
    const postgres = require('postgres');
    const server = await EmbeddedPostgres.start({ major: Number(flag('pg', 17)), settings: { max_connections: 100 } });
    const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
    let service;
    try {
      await admin.unsafe(`
        create extension pg_stat_statements;
        create role pgscope_soak login password 'soak'; grant pg_monitor to pgscope_soak;
        create table t (id int primary key, v text); insert into t select g, md5(g::text) from generate_series(1, 50000) g;
        create index t_v on t (v); analyze t;`);
      service = await startService({
        DATABASE_URL: server.url('postgres', 'pgscope_soak', 'soak'),
        POOL_MAX: '4',
        CACHE_TTL_MS: flag('cache-ttl', '0'),
        RATE_LIMIT_PER_MINUTE: '0',
      });
      const figures = await soak(service, {
        connections: Number(flag('connections', 200)),
        durationS: Number(flag('duration', 30)),
      });
      console.log(JSON.stringify(figures, null, 2));
      service.child.kill('SIGTERM');
      const { code } = await service.exit;
      console.log(`exit code after SIGTERM: ${code}`);
      process.exitCode = figures.fivexx === 0 && figures.errorLogLines.length === 0 && code === 0 ? 0 : 1;
    } finally {
      service?.child.kill('SIGKILL');
      await admin.end();
      await server.stop();
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
