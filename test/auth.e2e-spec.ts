import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { HistoryCollector } from '../src/history/collector.service';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { API, createTestApp, TestApp, TestDatabase } from './support/harness';
import { OPENAPI_FILE } from '../src/openapi/files';

describe('bearer tokens on /api', () => {
  let db: TestDatabase;
  let api: TestApp;
  const tokenFile = path.join(os.tmpdir(), `pgscope-auth-${process.pid}`);

  beforeAll(async () => {
    db = await TestDatabase.create({ extensions: [] });
    fs.writeFileSync(tokenFile, 'file-token\n');
    api = await createTestApp(db.monitorUrl, {
      API_TOKENS: 'tok-one,tok-two',
      API_TOKENS_FILE: tokenFile,
      CACHE_TTL_MS: '60000',
    });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
    fs.rmSync(tokenFile, { force: true });
  });

  it.each([
    ['no header', {}, 'This API needs an Authorization: Bearer <token> header.'],
    ['a wrong token', { authorization: 'Bearer nope' }, 'The bearer token is not valid.'],
    [
      'another scheme',
      { authorization: 'Basic dG9rLW9uZQ==' },
      'This API needs an Authorization: Bearer <token> header.',
    ],
  ])('answers %s with 401 problem+json and WWW-Authenticate', async (_what, headers, detail) => {
    const res = await api.get(`${API}/activity`, headers as Record<string, string>);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="pgscope"');
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toEqual({
      type: 'urn:pgscope:problem:unauthorized',
      title: 'Unauthorized',
      status: 401,
      detail,
      code: 'UNAUTHORIZED',
    });
  });

  it('accepts every configured token, from API_TOKENS and from API_TOKENS_FILE', async () => {
    for (const token of ['tok-one', 'tok-two', 'file-token']) {
      expect((await api.get(API, { authorization: `Bearer ${token}` })).status).toBe(200);
    }
  });

  it('never serves a cached body without a token', async () => {
    expect((await api.get(`${API}/activity?limit=3`, { authorization: 'Bearer tok-one' })).status).toBe(200);
    expect((await api.get(`${API}/activity?limit=3`)).status).toBe(401);
  });

  it('keeps health and the documentation open, and documents the bearer scheme', async () => {
    expect((await api.get('/health/live')).status).toBe(200);
    expect((await api.get('/health/ready')).status).toBe(200);
    const doc = (await api.get('/docs-json')).body;
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/api/db/monitoring/postgres/activity'].get.security).toEqual([{ bearer: [] }]);
  });
});

describe('closed by default', () => {
  const MAIN = path.join(__dirname, '..', 'dist', 'main.js');
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stderr: string; stdout: string; child: ReturnType<typeof spawn> }>((resolve) => {
      const child = spawn(process.execPath, [MAIN], {
        env: {
          ...process.env,
          DATABASE_URL: 'postgres://x:y@127.0.0.1:1/none',
          PORT: '0',
          HISTORY: 'off',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let stdout = '';
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      let killed = false;
      child.stdout?.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (!killed && stdout.includes('Swagger UI at')) {
          killed = true;
          child.kill('SIGTERM');
        }
      });
      child.once('exit', (code) => resolve({ code, stderr, stdout, child }));
    });

  it('refuses to serve a non-loopback address without tokens, in one line', async () => {
    const { code, stderr } = await run({ HOST: '0.0.0.0' });
    expect(code).toBe(1);
    expect(stderr).toBe(
      'Refusing to serve on 0.0.0.0 without authentication: set API_TOKENS (or API_TOKENS_FILE), bind HOST=127.0.0.1, or set ALLOW_UNAUTHENTICATED=true\n',
    );
  });

  it('serves it with ALLOW_UNAUTHENTICATED=true, warning at start', async () => {
    const { code, stdout } = await run({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: 'true' });
    expect(code).toBe(0);
    expect(stdout).toContain('ALLOW_UNAUTHENTICATED=true');
  });

  it('serves it with a token', async () => {
    const { code } = await run({ HOST: '0.0.0.0', API_TOKENS: 'secret' });
    expect(code).toBe(0);
  });
});

/**
 * Protection is decided from the route the router matched, never from the raw URL: every spelling of a protected
 * route that the router accepts (percent-encoded letters, a trailing slash, a query string) needs the token, and
 * every spelling it does not accept (double slashes, dot segments, another case) is not a way around it either.
 */
describe('protection follows the matched route, whatever the spelling of the URL', () => {
  let db: TestDatabase;
  let store: TestDatabase;
  let api: TestApp;
  const doc = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as {
    paths: Record<string, unknown>;
  };
  const documented = Object.keys(doc.paths).filter((r) => !r.startsWith('/health/'));
  // A path parameter takes a value the store has (set in beforeAll): the route answers 200 with the token.
  let queryId = '0';
  const concrete = (route: string) => route.replace('{queryId}', queryId);
  const encodeLetter = (route: string, at: number) =>
    `${route.slice(0, at)}%${route.charCodeAt(at).toString(16)}${route.slice(at + 1)}`;
  /** Spellings the router resolves to the same route. */
  const sameRoute = (route: string) => [
    route,
    encodeLetter(route, 1), // /%61pi/…
    encodeLetter(route, route.lastIndexOf('/') + 1), // the last segment's first letter
    `${route.slice(0, 1)}%${route.charCodeAt(1).toString(16).toUpperCase()}${route.slice(2)}`, // upper-case hex
    `${route}/`,
    `${route}?limit=1`,
    `${encodeLetter(route, 1)}/?limit=1`,
  ];
  /** Spellings it does not resolve: never a way in, with or without a token. */
  const otherRoutes = (route: string) => [
    `/${route}`,
    route.replace('/db/', '//db/'),
    route.replace('/db/', '/./db/'),
    route.replace('/db/', '/x/../db/'),
    route.toUpperCase(),
    route.replace('/api/', '/Api/'),
  ];
  const auth = { authorization: 'Bearer tok-one' };
  let port = 0;
  /** A real socket, so that the path reaches the server byte for byte (inject and fetch normalise it first). */
  const raw = (url: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; code?: string; cached?: boolean }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: url, headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          const json = body.startsWith('{') ? JSON.parse(body) : {};
          resolve({ status: res.statusCode ?? 0, code: json.code, cached: json.meta?.cached });
        });
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    db = await TestDatabase.create({ extensions: ['pg_stat_statements'] });
    store = await TestDatabase.create({ extensions: [] });
    api = await createTestApp(db.monitorUrl, {
      API_TOKENS: 'tok-one',
      CACHE_TTL_MS: '60000',
      HISTORY: 'on',
      HISTORY_DATABASE_URL: store.url,
    });
    await api.app.listen(0, '127.0.0.1');
    port = (api.app.getHttpServer().address() as { port: number }).port;
    // A snapshot, so that the history routes have something to answer with (the store keeps the texts of every entry).
    await api.app.get(HistoryCollector).now!.collectNow('default');
    const [entry] = await store.admin<{ queryid: string }[]>`select queryid::text from statement_texts limit 1`;
    queryId = entry.queryid;
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
    await store?.drop();
  });

  it('lists every protected route of the document', () => {
    expect(documented.length).toBeGreaterThanOrEqual(5);
  });

  it.each(documented)('%s: every spelling the router accepts needs the token', async (template) => {
    const route = concrete(template);
    for (const url of sameRoute(route)) {
      const without = await raw(url);
      expect([url, without.status, without.code]).toEqual([url, 401, 'UNAUTHORIZED']);
      const wrong = await raw(url, { authorization: 'Bearer nope' });
      expect([url, wrong.status]).toEqual([url, 401]);
      const withToken = await raw(url.replace(/\?.*$/, ''), auth);
      expect([url, withToken.status]).toEqual([url, 200]);
    }
  });

  it.each(documented)('%s: spellings the router rejects answer 401 without a token, 404 with one', async (template) => {
    const route = concrete(template);
    for (const url of otherRoutes(route)) {
      const without = await raw(url);
      expect([url, without.status]).toEqual([url, 401]);
      const withToken = await raw(url, auth);
      expect([url, withToken.status]).toEqual([url, 404]);
    }
  });

  it('never serves a cached body to an encoded spelling without a token, and shares one entry across spellings', async () => {
    const route = `${API}/activity`;
    const first = await raw(`${route}?limit=2`, auth);
    expect(first).toMatchObject({ status: 200, cached: false });
    const encoded = encodeLetter(route, 1);
    expect((await raw(`${encoded}?limit=2`)).status).toBe(401);
    expect(await raw(`${encoded}/?limit=2`, auth)).toMatchObject({ status: 200, cached: true });
  });

  it('keeps the public routes open in every spelling the router accepts', async () => {
    for (const url of ['/health/live', '/h%65alth/live', '/health/live/', '/health/ready?', '/docs', '/d%6Fcs-json']) {
      expect([url, (await raw(url)).status]).toEqual([url, 200]);
    }
  });
});
