import fs from 'node:fs';
import { EmbeddedPostgres, freePort } from '../src/embedded/embedded';
import { API, createTestApp, TestApp, TestDatabase, waitFor } from './support/harness';
import { OPENAPI_FILE } from '../src/openapi/files';

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

  const documented = Object.keys((JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as { paths: object }).paths);
  it.each(documented)('answers another method on %s with 405, an Allow header and a problem', async (route) => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'QUERY', 'PROPFIND'] as const) {
      const res = await api.app.inject({ method: method as 'POST', url: `${route}/?x=1` });
      expect([method, res.statusCode, res.headers.allow]).toEqual([method, 405, 'GET, HEAD']);
      expect(res.headers['content-type']).toBe(PROBLEM);
      expect(res.json()).toEqual({
        type: 'urn:pgscope:problem:method-not-allowed',
        title: 'Method not allowed',
        status: 405,
        detail: `${method} is not allowed here: this resource answers GET, HEAD only.`,
        code: 'METHOD_NOT_ALLOWED',
        hint: 'pgscope only reads: use GET.',
      });
    }
  });

  it('needs the token before it says which methods a protected path has', async () => {
    const locked = await createTestApp(db.monitorUrl, { API_TOKENS: 'tok' });
    try {
      expect((await locked.app.inject({ method: 'POST', url: API })).statusCode).toBe(401);
      const res = await locked.app.inject({ method: 'POST', url: API, headers: { authorization: 'Bearer tok' } });
      expect(res.statusCode).toBe(405);
      // A public path stays public for every method.
      expect((await locked.app.inject({ method: 'POST', url: '/health/live' })).statusCode).toBe(405);
    } finally {
      await locked.close();
    }
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
