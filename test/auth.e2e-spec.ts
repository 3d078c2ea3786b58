import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { API, createTestApp, TestApp, TestDatabase } from './support/harness';

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
        env: { ...process.env, DATABASE_URL: 'postgres://x:y@127.0.0.1:1/none', PORT: '0', ...env },
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
