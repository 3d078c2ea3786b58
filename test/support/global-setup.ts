import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { EmbeddedPostgres } from '../../src/embedded/embedded';
import { TEST_ENV } from './env';

declare global {
  var __PGSCOPE_TEST_SERVER__: { stop(): Promise<void> } | undefined;
}

/**
 * Starts one real PostgreSQL for the run: embedded (default; PG_VERSION picks the major, default 17),
 * testcontainers (TEST_PG=testcontainers, where a Docker engine is reachable), or an existing server
 * (TEST_DATABASE_URL, a superuser URL). Creates the least-privilege role the app under test connects as.
 */
export default async function globalSetup(): Promise<void> {
  const major = Number(process.env.PG_VERSION ?? 17);
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl && process.env.TEST_PG === 'testcontainers') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer(`postgres:${major}`)
      .withCommand([
        'postgres',
        '-c',
        'shared_preload_libraries=pg_stat_statements',
        '-c',
        'track_io_timing=on',
        '-c',
        'max_connections=400',
      ])
      .start();
    globalThis.__PGSCOPE_TEST_SERVER__ = { stop: async () => void (await container.stop()) };
    adminUrl = container.getConnectionUri();
  } else if (!adminUrl) {
    const server = await EmbeddedPostgres.start({
      major,
      settings: { max_connections: 400, 'pg_stat_statements.max': 10000, autovacuum_naptime: '1s' },
    });
    globalThis.__PGSCOPE_TEST_SERVER__ = server;
    adminUrl = server.url();
  }
  const monitorPassword = randomBytes(12).toString('hex');
  const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    const [{ exists }] =
      await sql`select exists (select 1 from pg_roles where rolname = ${TEST_ENV.monitorRole}) as exists`;
    const verb = exists ? 'alter' : 'create';
    await sql.unsafe(`${verb} role ${TEST_ENV.monitorRole} login password '${monitorPassword}'`);
    await sql.unsafe(`grant pg_monitor to ${TEST_ENV.monitorRole}`);
    const [{ server_version_num }] = await sql`select current_setting('server_version_num')::int as server_version_num`;
    process.env[TEST_ENV.serverVersionNum] = String(server_version_num);
  } finally {
    await sql.end();
  }
  process.env[TEST_ENV.adminUrl] = adminUrl;
  process.env[TEST_ENV.monitorPassword] = monitorPassword;
}
