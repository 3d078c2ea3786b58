import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '../sdk/client';
import {
  getActivity,
  getCache,
  getLiveness,
  getReadiness,
  getServerOverview,
  listIndexes,
  listStatements,
} from '../sdk';
import type { ProblemDto, SessionDto } from '../sdk';
import { createTestApp, TestApp, TestDatabase } from './support/harness';

/**
 * The generated TypeScript SDK (sdk/, from openapi.json) against the running service, one call per operation.
 * This file is type-checked (tsconfig.sdk.json, in npm test): a response type that drifts from what the test
 * reads fails the build, not only the run.
 */
describe('the TypeScript SDK', () => {
  let db: TestDatabase;
  let api: TestApp;
  let client: ReturnType<typeof createClient>;

  beforeAll(async () => {
    db = await TestDatabase.create();
    await db.admin.unsafe(`
      create table sdk_orders (id int primary key, customer int not null);
      create index sdk_orders_customer on sdk_orders (customer);
      insert into sdk_orders select g, g % 10 from generate_series(1, 100) g;`);
    api = await createTestApp(db.monitorUrl, { API_TOKENS: 'sdk-token' });
    await api.app.listen(0, '127.0.0.1');
    const address = api.app.getHttpServer().address() as { port: number };
    client = createClient({ baseUrl: `http://127.0.0.1:${address.port}`, auth: () => 'sdk-token' });
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  it('getServerOverview', async () => {
    const { data, response } = await getServerOverview({ client, throwOnError: true });
    expect(response.status).toBe(200);
    const version: string = data.version;
    expect(version).toMatch(/^\d+/);
    expect(data.currentDatabase).toBe(db.name);
  });

  it('getActivity, with typed query parameters', async () => {
    const { data } = await getActivity({
      client,
      throwOnError: true,
      query: {
        state: ['idle', 'active'],
        backendType: 'all',
        excludeSelf: false,
        limit: 50,
        orderBy: 'pid',
        order: 'asc',
      },
    });
    const sessions: SessionDto[] = data.sessions;
    expect(sessions.length).toBeGreaterThan(0);
    const pids: number[] = sessions.map((s) => s.pid);
    expect(pids).toEqual([...pids].sort((a, b) => a - b));
    expect(data.queryText).toBe('full');
  });

  it('listStatements', async () => {
    const { data } = await listStatements({ client, throwOnError: true, query: { limit: 5, orderBy: 'calls' } });
    const calls: number[] = data.statements.map((s) => s.calls);
    expect(calls).toEqual([...calls].sort((a, b) => b - a));
  });

  it('listIndexes', async () => {
    const { data } = await listIndexes({
      client,
      throwOnError: true,
      query: { table: 'sdk_orders', bloat: 'estimate' },
    });
    expect(data.indexes.map((i) => i.index).sort()).toEqual(['sdk_orders_customer', 'sdk_orders_pkey']);
    const scans: number | null = data.indexes[0].scans;
    expect(scans).toBe(0);
  });

  it('getCache', async () => {
    const { data } = await getCache({ client, throwOnError: true, query: { table: 'sdk_orders' } });
    const ratio: number | null = data.database.hitRatio;
    expect(ratio === null || (ratio >= 0 && ratio <= 1)).toBe(true);
  });

  it('getLiveness and getReadiness (no token needed)', async () => {
    const open = createClient({ baseUrl: client.getConfig().baseUrl });
    expect((await getLiveness({ client: open, throwOnError: true })).data.status).toBe('ok');
    expect((await getReadiness({ client: open, throwOnError: true })).data.status).toBe('ok');
  });

  it('returns the problem document, typed, on an error', async () => {
    const { error, response } = await listStatements({ client, query: { limit: 5000 } });
    expect(response.status).toBe(400);
    const problem = error as ProblemDto;
    expect(problem.code).toBe('INVALID_PARAMETER');
    expect(problem.invalidParams?.[0].name).toBe('limit');
  });

  it('is what the generator makes of openapi.json today (npm run sdk, then commit sdk/)', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-sdk-'));
    try {
      const root = path.join(__dirname, '..');
      const result = spawnSync(
        process.execPath,
        [
          path.join(root, 'node_modules', '@hey-api', 'openapi-ts', 'bin', 'run.js'),
          '-f',
          'openapi/openapi-ts.config.mjs',
          '-s',
        ],
        { cwd: root, encoding: 'utf8', env: { ...process.env, SDK_OUT: out } },
      );
      expect(result.status).toBe(0);
      const list = (dir: string): string[] =>
        fs
          .readdirSync(dir, { recursive: true, withFileTypes: false })
          .map(String)
          .filter((f) => f.endsWith('.ts'))
          .sort();
      expect(list(out)).toEqual(list(path.join(root, 'sdk')));
      for (const file of list(out)) {
        expect([file, fs.readFileSync(path.join(out, file), 'utf8')]).toEqual([
          file,
          fs.readFileSync(path.join(root, 'sdk', file), 'utf8'),
        ]);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
