import net from 'node:net';
import postgres from 'postgres';
import { EmbeddedPostgres, freePort } from '../src/embedded/embedded';
import { API, createTestApp, serverMajor, TestApp, waitFor } from './support/harness';
// The soak and the service launcher are shared with `npm run soak` (the full-length run).
import { soak, startService } from '../bench/soak';

/**
 * Faults injected for real, each on a dedicated PostgreSQL this file starts, stops, restarts and whose backends it
 * terminates: pgscope must answer cleanly (503/504 problem+json, never a 500 or a hang) and recover by itself.
 */
const ROLE = 'pgscope_fault';
const PASSWORD = 'fault-pw';
const ROUTES = [API, `${API}/activity`, `${API}/statements`, `${API}/indexes`, `${API}/cache`];

async function prepare(server: EmbeddedPostgres): Promise<void> {
  const admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`
      create role ${ROLE} login password '${PASSWORD}'; grant pg_monitor to ${ROLE};
      create extension if not exists pg_stat_statements;
      create table if not exists t (id int primary key, v text);
      insert into t select g, md5(g::text) from generate_series(1, 10000) g on conflict do nothing;
      analyze t;`);
  } finally {
    await admin.end();
  }
}

const monitorUrl = (port: number): string => `postgres://${ROLE}:${PASSWORD}@127.0.0.1:${port}/postgres`;

/** Every route answers 200 (waiting for it: recovery is asynchronous). */
async function allRecover(api: TestApp): Promise<void> {
  for (const route of ROUTES) {
    await waitFor(async () => (await api.get(route)).status === 200, 15_000);
  }
}

describe('the database is down when pgscope starts', () => {
  it('starts, answers 503 DATABASE_UNAVAILABLE everywhere, and recovers by itself when the database comes up', async () => {
    const port = await freePort();
    const api = await createTestApp(monitorUrl(port), { QUERY_TIMEOUT_MS: '1000' });
    let server: EmbeddedPostgres | undefined;
    try {
      expect((await api.get('/health/live')).status).toBe(200);
      expect((await api.get('/health/ready')).status).toBe(503);
      for (const route of ROUTES) {
        const res = await api.get(route);
        expect([route, res.status, res.body.code]).toEqual([route, 503, 'DATABASE_UNAVAILABLE']);
      }
      server = await EmbeddedPostgres.start({ major: serverMajor(), port });
      await prepare(server);
      await allRecover(api);
      expect((await api.get('/health/ready')).status).toBe(200);
    } finally {
      await api.close();
      await server?.stop();
    }
  });

  it('does not hang on a server that accepts the connection and never answers: 503 within the timeouts', async () => {
    // A black hole: TCP accepted, not a byte back (a half-dead host, a stuck proxy).
    const sockets: net.Socket[] = [];
    const hole = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as net.AddressInfo).port;
    const api = await createTestApp(monitorUrl(port), { QUERY_TIMEOUT_MS: '1000' });
    try {
      const results = await Promise.all(
        ROUTES.map(async (route) => {
          const started = Date.now();
          const res = await api.get(route);
          return { status: res.status, code: res.body.code, ms: Date.now() - started };
        }),
      );
      for (const r of results) expect(r).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
      // connect_timeout follows QUERY_TIMEOUT_MS (rounded up to a second): a bound on hanging, with a wide margin.
      expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(5000);
    } finally {
      await api.close();
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => hole.close(r));
    }
  });
});

describe('faults while pgscope runs', () => {
  let server: EmbeddedPostgres;
  let admin: postgres.Sql;

  beforeAll(async () => {
    server = await EmbeddedPostgres.start({ major: serverMajor(), settings: { max_connections: 300 } });
    await prepare(server);
    admin = postgres(server.url(), { max: 1, onnotice: () => undefined });
  });
  afterAll(async () => {
    await admin?.end({ timeout: 1 });
    await server?.stop();
  });

  /** Takes the lock pgscope's first read (server facts, from pg_extension) needs, and holds it while `fn` runs. */
  async function withCatalogLock<T>(fn: (release: () => Promise<void>) => Promise<T>): Promise<T> {
    const holder = postgres(server.url(), { max: 1, onnotice: () => undefined });
    await holder.unsafe('begin; lock table pg_catalog.pg_extension in access exclusive mode');
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await holder.unsafe('rollback');
    };
    try {
      return await fn(release);
    } finally {
      await release();
      await holder.end();
    }
  }

  const pgscopeLockWaiter = () =>
    waitFor(async () => {
      const [row] = await admin<{ pid: number }[]>`
        select pid from pg_stat_activity where usename = ${ROLE} and wait_event_type = 'Lock'`;
      return row?.pid;
    });

  it('survives a restart of the database: failures are clean 503s, then it recovers without being restarted', async () => {
    const api = await createTestApp(monitorUrl(server.port), { QUERY_TIMEOUT_MS: '1000' });
    try {
      for (const route of ROUTES) expect((await api.get(route)).status).toBe(200);
      const statuses = new Set<number>();
      let polling = true;
      const poller = (async () => {
        while (polling) {
          for (const route of ROUTES) statuses.add((await api.get(route)).status);
        }
      })();
      await server.restart();
      await allRecover(api);
      polling = false;
      await poller;
      expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    } finally {
      await api.close();
    }
  });

  it('answers 503 when its own backend is terminated mid-query, and the next request succeeds, every time', async () => {
    // A separate process: a driver failure that escapes as an uncaught exception would end it, visibly.
    const service = await startService({
      DATABASE_URL: monitorUrl(server.port),
      RATE_LIMIT_PER_MINUTE: '0',
      CACHE_TTL_MS: '0',
    });
    try {
      for (let round = 0; round < 3; round++) {
        // First its idle connections are killed (a DBA's cleanup): the next query on each fails (503, once) and
        // pgscope forgets the server's facts; its next API request reads them again, and that read waits on the
        // lock, mid-query, where it is terminated.
        await admin`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${ROLE}`;
        await waitFor(async () => (await fetch(`${service.baseUrl}/health/ready`)).status === 200);
        const res = await withCatalogLock(async (release) => {
          const pending = fetch(service.baseUrl + API);
          const pid = await pgscopeLockWaiter();
          await admin`select pg_terminate_backend(${pid})`;
          await release();
          return pending;
        });
        const body = (await res.json()) as { code: string };
        expect([round, res.status, body.code]).toEqual([round, 503, 'DATABASE_UNAVAILABLE']);
        expect(JSON.stringify(body)).not.toMatch(/terminat|administrator|57P01/i);
        for (const route of ROUTES)
          expect([round, route, (await fetch(service.baseUrl + route)).status]).toEqual([round, route, 200]);
      }
      expect(service.child.exitCode).toBeNull();
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  it('on SIGTERM finishes the requests in flight, closes its pool and exits 0', async () => {
    const service = await startService({
      DATABASE_URL: monitorUrl(server.port),
      RATE_LIMIT_PER_MINUTE: '0',
    });
    try {
      const results = await withCatalogLock(async (release) => {
        const inFlight = ROUTES.map((route) => fetch(service.baseUrl + route).then((r) => r.status));
        await pgscopeLockWaiter();
        service.child.kill('SIGTERM');
        // The service is shutting down with the requests still waiting; then the lock goes.
        await new Promise((r) => setTimeout(r, 200));
        expect(service.child.exitCode).toBeNull();
        await release();
        return Promise.all(inFlight);
      });
      expect(results).toEqual(ROUTES.map(() => 200));
      expect(await service.exit).toEqual({ code: 0, signal: null });
      const [{ n }] = await admin<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where usename = ${ROLE}`;
      expect(n).toBe(0);
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  it(`${Number(process.env.SOAK_CONNECTIONS ?? 200)} concurrent clients on a pool of 4: no 5xx, no error logged, no heap growth`, async () => {
    const service = await startService({
      DATABASE_URL: monitorUrl(server.port),
      POOL_MAX: '4',
      CACHE_TTL_MS: '0',
      RATE_LIMIT_PER_MINUTE: '0',
    });
    try {
      const figures = await soak(service, {
        connections: Number(process.env.SOAK_CONNECTIONS ?? 200),
        durationS: Number(process.env.SOAK_SECONDS ?? 5),
        warmupS: 2,
      });
      expect(figures.requests).toBeGreaterThan(0);
      expect(figures).toMatchObject({ fivexx: 0, errors: 0, timeouts: 0, errorLogLines: [] });
      expect(Object.keys(figures.statuses)).toEqual(['200']);
      // Live heap after a full GC, after the run against after the warm-up (`npm run soak` runs 30 s).
      expect(figures.heapEndMb - figures.heapStartMb).toBeLessThan(10);
      service.child.kill('SIGTERM');
      expect(await service.exit).toEqual({ code: 0, signal: null });
    } finally {
      service.child.kill('SIGKILL');
    }
  });
});
