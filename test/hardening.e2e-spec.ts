import { API, createTestApp, TestApp, TestDatabase } from './support/harness';

describe('rate limit and security headers', () => {
  let db: TestDatabase;
  let api: TestApp;

  beforeAll(async () => {
    db = await TestDatabase.create({ extensions: [] });
    api = await createTestApp(db.monitorUrl, { RATE_LIMIT_PER_MINUTE: '5', API_TOKENS: 'tok' });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  it('answers the request after the limit with 429 problem+json and Retry-After, token or not', async () => {
    const auth = { authorization: 'Bearer tok' };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await api.get(API, auth)).status);
    // Wrong tokens count too: the limit runs before authentication, so it also slows token guessing.
    for (let i = 0; i < 2; i++) statuses.push((await api.get(API, { authorization: 'Bearer x' })).status);
    expect(statuses).toEqual([200, 200, 200, 401, 401]);
    const limited = await api.get(`${API}/activity`, auth);
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(limited.body.detail).toContain(`retry in ${retryAfter} s.`);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers['x-ratelimit-limit']).toBe('5');
    expect(limited.body).toEqual({
      type: 'urn:pgscope:problem:rate-limited',
      title: 'Too many requests',
      status: 429,
      detail: expect.stringMatching(/^More than 5 requests in a minute from this client; retry in \d+ s\.$/),
      code: 'RATE_LIMITED',
      hint: 'Poll less often, or raise RATE_LIMIT_PER_MINUTE.',
    });
    // Limited by the route matched, not the raw URL: an encoded spelling of /api is limited too …
    expect((await api.app.inject({ url: '/%61pi/db/monitoring/postgres', headers: auth })).statusCode).toBe(429);
    // … and health probes never are, however spelled.
    expect((await api.get('/health/live')).status).toBe(200);
    expect((await api.app.inject({ url: '/h%65alth/ready' })).statusCode).toBe(200);
  });

  it('sends security headers, with a CSP that keeps Swagger UI to its own origin', async () => {
    const res = await api.get('/health/live');
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'strict-transport-security': expect.stringContaining('max-age='),
      'referrer-policy': 'no-referrer',
    });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-eval');
  });
});

describe('rate limit off', () => {
  it('RATE_LIMIT_PER_MINUTE=0 sends no rate-limit headers and never 429s', async () => {
    const db = await TestDatabase.create({ extensions: [] });
    const api = await createTestApp(db.monitorUrl, { RATE_LIMIT_PER_MINUTE: '0' });
    try {
      const statuses = new Set<number>();
      let headers = {};
      for (let i = 0; i < 30; i++) {
        const res = await api.get('/health/live');
        statuses.add((await api.get(`${API}/nope`)).status);
        headers = res.headers;
      }
      expect([...statuses]).toEqual([404]);
      expect(headers).not.toHaveProperty('x-ratelimit-limit');
    } finally {
      await api.close();
      await db.drop();
    }
  });
});
