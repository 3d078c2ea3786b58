import { EmbeddedPostgres, freePort } from '../src/database/embedded';
import { API, createTestApp, TestApp, TestDatabase, waitFor } from './support/harness';

const PROBLEM = 'application/problem+json; charset=utf-8';

describe('errors are problem+json, never a stack trace or SQL', () => {
  let db: TestDatabase;
  let api: TestApp;

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl);
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  it('answers an unknown query parameter with 400 INVALID_PARAMETER naming it', async () => {
    const res = await api.get(`${API}?verbose=1`);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.body).toEqual({
      type: 'urn:pgscope:problem:invalid-parameter',
      title: 'Invalid parameter',
      status: 400,
      detail: 'verbose: is not a parameter of this operation',
      code: 'INVALID_PARAMETER',
      invalidParams: [{ name: 'verbose', reason: 'is not a parameter of this operation' }],
    });
  });

  it.each(['/api/db/monitoring/postgres/nope', '/nope', '/api'])(
    'answers the unknown route %s with 404 NOT_FOUND',
    async (url) => {
      const res = await api.get(url);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe(PROBLEM);
      expect(res.body).toEqual({
        type: 'urn:pgscope:problem:not-found',
        title: 'Not found',
        status: 404,
        detail: 'No such route. The API is described at /docs.',
        code: 'NOT_FOUND',
      });
    },
  );

  it('answers a method the route does not have with a problem, not HTML', async () => {
    const res = await api.app.inject({ method: 'DELETE', url: API });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe(PROBLEM);
  });

  it('gives up on a lock it would have to wait for: 504 QUERY_TIMEOUT, and the query is gone from the server', async () => {
    const quick = await createTestApp(db.monitorUrl, { QUERY_TIMEOUT_MS: '300' });
    const holder = await db.session();
    try {
      // What a migration does: an ACCESS EXCLUSIVE lock on a catalog the collection reads.
      await holder.sql.unsafe('begin; lock table pg_catalog.pg_extension in access exclusive mode');
      const res = await quick.get(API);
      expect(res.status).toBe(504);
      expect(res.headers['content-type']).toBe(PROBLEM);
      expect(res.body.code).toBe('QUERY_TIMEOUT');
      expect(JSON.stringify(res.body)).not.toMatch(/pg_extension|select|stack/i);
      const waiting = await db.admin`
        select count(*)::int as n from pg_stat_activity where application_name = 'pgscope' and wait_event_type = 'Lock'`;
      expect(waiting[0].n).toBe(0);
    } finally {
      await holder.sql.unsafe('rollback');
      await quick.close();
    }
  });
});

describe('a database that is down', () => {
  it('answers 503 DATABASE_UNAVAILABLE on every route, and readiness is 503 while liveness stays 200', async () => {
    const port = await freePort();
    const api = await createTestApp(`postgres://nobody:x@127.0.0.1:${port}/none`, { QUERY_TIMEOUT_MS: '1000' });
    try {
      const res = await api.get(API);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toBe(PROBLEM);
      expect(res.body).toEqual({
        type: 'urn:pgscope:problem:database-unavailable',
        title: 'Database unavailable',
        status: 503,
        detail: expect.any(String),
        code: 'DATABASE_UNAVAILABLE',
        hint: expect.any(String),
      });
      expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|nobody/);
      expect((await api.get('/health/ready')).status).toBe(503);
      expect((await api.get('/health/live')).status).toBe(200);
    } finally {
      await api.close();
    }
  });

  it('answers 503 once a running server stops, and readiness follows', async () => {
    const server = await EmbeddedPostgres.start({ major: Number(process.env.PG_VERSION ?? 17) });
    const api = await createTestApp(server.url(), { QUERY_TIMEOUT_MS: '1000' });
    try {
      expect((await api.get(API)).status).toBe(200);
      expect((await api.get('/health/ready')).body).toEqual({ status: 'ok' });
      await server.stop();
      const res = await waitFor(async () => {
        const r = await api.get(API);
        return r.status === 503 && r;
      });
      expect(res.body.code).toBe('DATABASE_UNAVAILABLE');
      const ready = await api.get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.detail).toBe('The database is not answering.');
    } finally {
      await api.close();
      await server.stop();
    }
  });
});

describe('health', () => {
  it('is live and ready against a running server, and says nothing about it', async () => {
    const db = await TestDatabase.create({ extensions: [] });
    const api = await createTestApp(db.monitorUrl);
    try {
      expect(await api.get('/health/live')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await api.get('/health/ready')).toMatchObject({ status: 200, body: { status: 'ok' } });
    } finally {
      await api.close();
      await db.drop();
    }
  });
});
