import { API, createTestApp, TestApp, TestDatabase } from './support/harness';

const URL = `${API}/activity`;

describe('shared collection: single flight, TTL, ETag', () => {
  let db: TestDatabase;
  let api: TestApp;

  /** Executions of the activity summary query on the server, from pg_stat_statements. */
  const collections = async () => {
    const [row] = await db.admin`
      select coalesce(sum(calls), 0)::int as n from pg_stat_statements
       where query like '%act as materialized%' and query like '%"totalConnections"%'`;
    return row.n as number;
  };

  beforeAll(async () => {
    db = await TestDatabase.create();
    api = await createTestApp(db.monitorUrl, { CACHE_TTL_MS: '60000' });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  it('serves an identical request from the cache, saying so, with Cache-Control and a stable ETag', async () => {
    const first = await api.get(`${URL}?limit=5&orderBy=pid`);
    const second = await api.get(`${URL}?orderBy=pid&limit=5`);
    expect(first.status).toBe(200);
    expect(first.body.meta).toMatchObject({ cached: false, ageMs: 0 });
    expect(second.body.meta.cached).toBe(true);
    expect(second.body.meta.ageMs).toBeGreaterThanOrEqual(0);
    expect(second.body.meta.collectedAt).toBe(first.body.meta.collectedAt);
    expect(second.body.sessions).toEqual(first.body.sessions);
    expect(first.headers.etag).toMatch(/^W\/".+"$/);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(second.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    expect(second.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('answers If-None-Match with 304 and no body', async () => {
    const first = await api.get(`${URL}?limit=7`);
    const res = await api.app.inject({
      method: 'GET',
      url: `${URL}?limit=7`,
      headers: { 'if-none-match': first.headers.etag as string },
    });
    expect(res.statusCode).toBe(304);
    expect(res.body).toBe('');
    expect(res.headers.etag).toBe(first.headers.etag);
  });

  it('lets 30 concurrent identical requests share one collection', async () => {
    const before = await collections();
    const responses = await Promise.all(Array.from({ length: 30 }, () => api.get(`${URL}?limit=3&order=asc`)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.filter((r) => !r.body.meta.cached)).toHaveLength(1);
    expect((await collections()) - before).toBe(1);
  });

  it('does not cache errors, and keeps different parameters apart', async () => {
    expect((await api.get(`${URL}?limit=0`)).status).toBe(400);
    expect((await api.get(`${URL}?limit=0`)).status).toBe(400);
    const a = await api.get(`${URL}?limit=11`);
    const b = await api.get(`${URL}?limit=12`);
    expect(a.body.meta.cached).toBe(false);
    expect(b.body.meta.cached).toBe(false);
  });

  it('collects every time with CACHE_TTL_MS=0, still with an ETag', async () => {
    const off = await createTestApp(db.monitorUrl, { CACHE_TTL_MS: '0' });
    try {
      const before = await collections();
      const [x, y] = [await off.get(`${URL}?limit=2`), await off.get(`${URL}?limit=2`)];
      expect(x.body.meta.cached).toBe(false);
      expect(y.body.meta.cached).toBe(false);
      expect(x.headers['cache-control']).toBe('private, no-cache');
      expect(x.headers.etag).toMatch(/^W\//);
      expect((await collections()) - before).toBe(2);
    } finally {
      await off.close();
    }
  });

  it('collects again once the TTL has passed', async () => {
    const short = await createTestApp(db.monitorUrl, { CACHE_TTL_MS: '100' });
    try {
      await short.get(`${URL}?limit=4`);
      expect((await short.get(`${URL}?limit=4`)).body.meta.cached).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
      expect((await short.get(`${URL}?limit=4`)).body.meta.cached).toBe(false);
    } finally {
      await short.close();
    }
  });
});
