import 'reflect-metadata';
import { ConsoleLogger } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import postgres from 'postgres';
import { createApp } from '../../src/app.setup';
import { loadEnv } from '../../src/config/env';
import { assertMatchesContract } from './contract';
import { TEST_ENV } from './env';

export const API = '/api/db/monitoring/postgres';
const DEFAULT_EXTENSIONS = ['pg_stat_statements', 'pgstattuple', 'pg_buffercache'];

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the e2e specs through jest (global setup starts PostgreSQL)`);
  return value;
}

export const serverMajor = (): number => Math.floor(Number(required(TEST_ENV.serverVersionNum)) / 10000);

/** URL of `database` on the test server, as the superuser or as another role. */
export function urlFor(database: string, user?: string, password?: string): string {
  const url = new URL(required(TEST_ENV.adminUrl));
  url.pathname = `/${database}`;
  if (user) {
    url.username = user;
    url.password = password ?? '';
  }
  return url.toString();
}

export interface Session {
  sql: postgres.Sql;
  pid: number;
  close(): Promise<void>;
}

/** One database per test file, dropped at the end; helpers to stage situations in it. */
export class TestDatabase {
  readonly monitorUrl: string;
  readonly url: string;
  /** Superuser connection to this database, for staging. */
  readonly admin: postgres.Sql;
  private readonly sessions: Session[] = [];

  private constructor(readonly name: string) {
    this.url = urlFor(name);
    this.monitorUrl = urlFor(name, TEST_ENV.monitorRole, required(TEST_ENV.monitorPassword));
    // One connection, so that flushStats() flushes the connection that did the staging.
    this.admin = postgres(this.url, { max: 1, onnotice: () => undefined });
  }

  static async create(options: { extensions?: string[] } = {}): Promise<TestDatabase> {
    const file = path
      .basename(expect.getState().testPath ?? 'test')
      .replace(/\W.*$/, '')
      .toLowerCase();
    const name = `t_${file.slice(0, 30)}_${randomBytes(3).toString('hex')}`;
    const server = postgres(urlFor('postgres'), { max: 1, onnotice: () => undefined });
    await server.unsafe(`create database ${name}`);
    await server.end();
    const db = new TestDatabase(name);
    for (const ext of options.extensions ?? DEFAULT_EXTENSIONS) await db.admin.unsafe(`create extension ${ext}`);
    return db;
  }

  /** A dedicated connection (max 1, so begin/lock/idle-in-transaction stay on it) and its backend pid. */
  async session(options: { applicationName?: string; user?: string; password?: string } = {}): Promise<Session> {
    const sql = postgres(options.user ? urlFor(this.name, options.user, options.password) : this.url, {
      max: 1,
      onnotice: () => undefined,
      connection: { application_name: options.applicationName ?? 'pgscope-test' },
    });
    const [{ pid }] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const session: Session = { sql, pid, close: () => sql.end({ timeout: 1 }) };
    this.sessions.push(session);
    return session;
  }

  async closeSessions(): Promise<void> {
    await Promise.all(this.sessions.splice(0).map((s) => s.close().catch(() => undefined)));
  }

  async drop(): Promise<void> {
    await this.closeSessions();
    await this.admin.end({ timeout: 1 });
    const server = postgres(urlFor('postgres'), { max: 1, onnotice: () => undefined });
    await server.unsafe(`drop database if exists ${this.name} with (force)`);
    await server.end();
  }
}

export interface TestResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: T;
}

export interface TestApp {
  app: NestFastifyApplication;
  get<T = any>(url: string, headers?: Record<string, string>): Promise<TestResponse<T>>;
  close(): Promise<void>;
}

/**
 * The real application (same setup as main.ts) over Fastify's inject: the full HTTP layer, no socket. `databaseUrl`
 * is the target "default"; null leaves the targets to `env` (TARGETS_FILE).
 */
export async function createTestApp(databaseUrl: string | null, env: Record<string, string> = {}): Promise<TestApp> {
  // TEST_LOG=1 shows the application's log (errors of failing requests) while debugging a spec.
  const logger = process.env.TEST_LOG ? new ConsoleLogger('test-app') : false;
  // The shared response cache is off unless a spec turns it on: most specs assert fresh figures.
  // Sizes are read for every request too (SIZES_MAX_AGE_MS=0): specs stage a relation and assert its size at once.
  const app = await createApp(
    loadEnv({
      ...(databaseUrl === null ? {} : { DATABASE_URL: databaseUrl }),
      CACHE_TTL_MS: '0',
      SIZES_MAX_AGE_MS: '0',
      // History is off unless a spec turns it on (and then names its store).
      HISTORY: 'off',
      ...env,
    }),
    { logger },
  );
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return {
    app,
    async get(url, headers = {}) {
      const res = await app.inject({ method: 'GET', url, headers });
      const type = String(res.headers['content-type'] ?? '');
      const body = (type.includes('json') ? res.json() : res.body) as any;
      // Every response a spec sees must be what openapi.json declares for its route and status.
      assertMatchesContract('GET', url, res.statusCode, type, body);
      return { status: res.statusCode, headers: res.headers, body };
    },
    close: () => app.close(),
  };
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`waitFor timed out after ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/** Waits until `pid` is waiting on a heavyweight lock. */
export function waitUntilLockWait(admin: postgres.Sql, pid: number): Promise<boolean> {
  return waitFor(async () => {
    const [row] = await admin`select wait_event_type = 'Lock' as waiting from pg_stat_activity where pid = ${pid}`;
    return row?.waiting === true;
  });
}

/**
 * Makes this connection's pending statistics visible to others: 15+ flushes them at the next transaction end on
 * request; 13/14 send them to the collector at most every 500 ms, so wait past that and end a transaction.
 */
export async function flushStats(sql: postgres.Sql): Promise<void> {
  if (serverMajor() >= 15) {
    await sql`select pg_stat_force_next_flush()`;
    await sql`select 1`;
  } else {
    await new Promise((r) => setTimeout(r, 600));
    await sql`select 1`;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * Waits until `read` gives the same value twice in a row, `intervalMs` apart: statistics of sessions that ended or
 * flushed have all arrived (the 13/14 collector is asynchronous). Counters compared with a response must be settled
 * first, and read before and after it (see between()).
 */
export async function settled<T>(read: () => Promise<T>, intervalMs = serverMajor() >= 15 ? 200 : 700): Promise<T> {
  let last = JSON.stringify(await read());
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const value = await read();
    const text = JSON.stringify(value);
    if (text === last) return value;
    last = text;
  }
  throw new Error(`counters did not settle: ${last}`);
}

/** Reads counters before and after `respond`: a figure of the response must lie between the two readings. */
export async function around<T, R>(read: () => Promise<T>, respond: () => Promise<R>): Promise<[T, R, T]> {
  const before = await read();
  const response = await respond();
  const after = await read();
  return [before, response, after];
}

/** One test per [query, parameter, reason]: a 400 INVALID_PARAMETER naming exactly that parameter. */
export function rejectsInvalidParameters(app: () => TestApp, url: string, cases: [string, string, string][]): void {
  it.each(cases)('rejects %s with 400 naming %s', async (query, name, reason) => {
    const res = await app().get(`${url}?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_PARAMETER');
    expect(res.body.invalidParams).toEqual([{ name, reason: expect.stringContaining(reason) }]);
  });
}

/**
 * Holds an ACCESS EXCLUSIVE lock on `table` (as a migration would) while `fn` runs. A collection that queued behind
 * it would hit pgscope's lock_timeout and fail, so a 200 inside `fn` proves it did not wait.
 */
export async function whileLocked<T>(db: TestDatabase, table: string, fn: () => Promise<T>): Promise<T> {
  const holder = await db.session();
  await holder.sql.unsafe(`begin; lock table ${table} in access exclusive mode`);
  try {
    return await fn();
  } finally {
    await holder.sql.unsafe('rollback');
  }
}
