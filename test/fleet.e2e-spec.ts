import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from '../src/embedded/embedded';
import { TargetRegistry } from '../src/targets/registry';
import { TEST_ENV } from './support/env';
import { API, createTestApp, TestApp, TestDatabase, urlFor, waitFor } from './support/harness';

const TARGETS = '/api/db/monitoring/targets';
const PASSWORD_ENV = 'PGSCOPE_FLEET_SPEC_PASSWORD';

/**
 * A fleet on the test server: "main" watches every database it may connect to (budget: 2 connections), "listed"
 * two databases by name (its password from an environment variable), "down" a port with nothing behind it, and
 * "hole" a server that accepts connections and never answers.
 */
describe('a fleet of targets', () => {
  let a: TestDatabase;
  let b: TestDatabase;
  let c: TestDatabase;
  let api: TestApp;
  let dir: string;
  let file: string;
  let hole: net.Server;
  const sockets: net.Socket[] = [];
  const password = process.env[TEST_ENV.monitorPassword] ?? '';
  const monitor = (db: string) => urlFor(db, TEST_ENV.monitorRole, password);
  const server = postgres(urlFor('postgres'), { max: 1, onnotice: () => undefined });

  beforeAll(async () => {
    [a, b, c] = [await TestDatabase.create(), await TestDatabase.create(), await TestDatabase.create()];
    await a.admin.unsafe('create table in_a (id int primary key)');
    await b.admin.unsafe('create table in_b (id int primary key)');
    await c.admin.unsafe('create table in_c (id int primary key)');
    hole = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    process.env[PASSWORD_ENV] = password;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-fleet-'));
    file = path.join(dir, 'targets.yaml');
    const noPassword = (url: string) => url.replace(/:[^:@/]*@/, '@');
    fs.writeFileSync(
      file,
      [
        'targets:',
        `  - { name: main, url: "${monitor(a.name)}", databases: all, poolMax: 2, labels: { env: test, team: dba } }`,
        `  - name: listed`,
        `    url: "${noPassword(monitor(b.name))}"`,
        `    passwordEnv: ${PASSWORD_ENV}`,
        `    databases: [${b.name}, ${c.name}]`,
        `  - { name: down, url: "postgres://x:top-secret@127.0.0.1:${await freePort()}/x", queryTimeoutMs: 1000 }`,
        `  - { name: hole, url: "postgres://x:y@127.0.0.1:${(hole.address() as net.AddressInfo).port}/x", queryTimeoutMs: 1000 }`,
        `  - { name: refused, url: "${monitor(a.name).replace(/:[^:@/]*@/, ':wrong-password@')}" }`,
      ].join('\n'),
    );
    api = await createTestApp(null, { TARGETS_FILE: file });
    await Promise.all(
      api.app
        .get(TargetRegistry)
        .list()
        .map((t) => t.check()),
    );
  });
  afterAll(async () => {
    await api?.close();
    for (const s of sockets) s.destroy();
    hole?.close();
    await server.end();
    for (const db of [a, b, c]) await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists every target with its labels, databases and status, and no credential', async () => {
    const res = await api.get(TARGETS);
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.targets.map((t: any) => [t.name, t]));
    expect(res.body.targets.map((t: any) => t.name)).toEqual(['main', 'listed', 'down', 'hole', 'refused']);
    expect(byName.main).toMatchObject({
      labels: { env: 'test', team: 'dba' },
      database: a.name,
      discovery: 'all',
      status: 'up',
      lastError: null,
      poolMax: 2,
      serverVersion: expect.stringMatching(/^\d+\.\d+/),
      capabilities: { pgMonitor: true, superuser: false },
    });
    expect(byName.main.databases).toEqual(expect.arrayContaining([a.name, b.name, c.name, 'postgres']));
    expect(byName.listed).toMatchObject({ discovery: 'list', databases: [b.name, c.name], status: 'up' });
    expect(byName.down).toMatchObject({
      status: 'down',
      lastError: { code: 'ECONNREFUSED', at: expect.any(String) },
      lastContactAt: null,
      serverVersion: null,
      capabilities: null,
    });
    expect(byName.hole).toMatchObject({ status: 'down', lastError: { code: expect.stringMatching(/TIMEOUT/) } });
    // The server answered and refused the login: not "down".
    expect(byName.refused).toMatchObject({ status: 'auth_failed', lastError: { code: '28P01' } });
    expect(JSON.stringify(res.body)).not.toMatch(new RegExp(`top-secret|wrong-password|${password}|postgres://`));
  });

  it('reads the target and database a request names, and the URL database by default', async () => {
    const tables = async (query: string) =>
      ((await api.get(`${API}/indexes?bloat=none&${query}`)).body.tables as any[]).map((t) => t.table);
    expect(await tables('target=main')).toEqual(['in_a']);
    expect(await tables(`target=main&database=${b.name}`)).toEqual(['in_b']);
    expect(await tables('target=listed')).toEqual(['in_b']);
    expect(await tables(`target=listed&database=${c.name}`)).toEqual(['in_c']);
    // The first target is the default.
    expect(await tables('')).toEqual(['in_a']);
    const cache = await api.get(`${API}/cache?target=listed&database=${c.name}`);
    expect(cache.body.database.name).toBe(c.name);
    const overview = await api.get(`${API}?target=listed`);
    expect(overview.body.currentDatabase).toBe(b.name);
  });

  it('answers an unknown target or database with a 404 naming it', async () => {
    const target = await api.get(`${API}/activity?target=nope`);
    expect([target.status, target.body.code]).toEqual([404, 'TARGET_NOT_FOUND']);
    expect(target.body.detail).toBe('No target is named "nope".');
    // A database of the server that the target does not watch is not one of its databases.
    const database = await api.get(`${API}/indexes?target=listed&database=${a.name}`);
    expect([database.status, database.body.code]).toEqual([404, 'DATABASE_NOT_FOUND']);
    expect(database.body.detail).toBe(`Target "listed" has no database "${a.name}" that pgscope watches.`);
  });

  it('follows databases created and dropped on a target that watches them all', async () => {
    const name = `fleet_new_${process.pid}`;
    await server.unsafe(`create database ${name}`);
    try {
      // Named by a request before any periodic discovery: looked up at once.
      const created = await api.get(`${API}/indexes?target=main&database=${name}`);
      expect(created.status).toBe(200);
      expect((await api.get(TARGETS)).body.targets[0].databases).toContain(name);
    } finally {
      await server.unsafe(`drop database ${name} with (force)`);
    }
    await api.app.get(TargetRegistry).get('main').check();
    expect((await api.get(TARGETS)).body.targets[0].databases).not.toContain(name);
    expect((await api.get(`${API}/indexes?target=main&database=${name}`)).status).toBe(404);
  });

  it('keeps a target that is down from slowing the others', async () => {
    // The black hole holds its request until the connect timeout; the others are answered meanwhile.
    let settled = false;
    const stuck = api.get(`${API}/activity?target=hole`).finally(() => (settled = true));
    for (const target of ['main', 'listed']) {
      expect((await api.get(`${API}/activity?target=${target}`)).status).toBe(200);
    }
    expect(settled).toBe(false);
    const res = await stuck;
    expect([res.status, res.body.code]).toEqual([503, 'DATABASE_UNAVAILABLE']);
    const down = await api.get(`${API}/statements?target=down`);
    expect([down.status, down.body.code]).toEqual([503, 'DATABASE_UNAVAILABLE']);
    expect(JSON.stringify(down.body)).not.toContain('top-secret');
  });

  it('never holds more than poolMax connections to a server, however many databases are read', async () => {
    const connections = async () =>
      Number(
        (
          await server`select count(*)::int as n from pg_stat_activity
                        where usename = ${TEST_ENV.monitorRole} and application_name = 'pgscope'
                          and datname = any(${[a.name, b.name, c.name, 'postgres']})`
        )[0].n,
      );
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await connections());
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const databases = [a.name, b.name, c.name, 'postgres'];
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => api.get(`${API}/cache?target=main&database=${databases[i % 4]}`)),
    );
    sampling = false;
    await sampler;
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(peak).toBeGreaterThan(0);
    // "listed" keeps its own connections to b and c; "main" at most 2 over every database.
    const main = api.app.get(TargetRegistry).get('main');
    expect(main.pool.size).toBeLessThanOrEqual(2);
    expect(peak).toBeLessThanOrEqual(2 + api.app.get(TargetRegistry).get('listed').pool.max);
  });
});

describe('a configuration reload (SIGHUP)', () => {
  const MAIN = path.join(__dirname, '..', 'dist', 'main.js');

  it('adds and removes targets without a restart, and keeps the running ones on a bad file', async () => {
    const db = await TestDatabase.create({ extensions: [] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-reload-'));
    const file = path.join(dir, 'targets.yaml');
    const write = (names: string[]) =>
      fs.writeFileSync(
        file,
        `targets:\n${names.map((n) => `  - { name: ${n}, url: "${db.monitorUrl}" }`).join('\n')}\n`,
      );
    write(['one', 'two']);
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, TARGETS_FILE: file, PORT: '0', DATABASE_URL: '', HISTORY: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const base = await waitFor(async () => /Swagger UI at (http:\/\/[^/\s]+)\/docs/.exec(output)?.[1], 30_000);
      const names = async () =>
        ((await (await fetch(`${base}${TARGETS}`)).json()) as { targets: { name: string }[] }).targets.map(
          (t) => t.name,
        );
      expect(await names()).toEqual(['one', 'two']);
      write(['two', 'three']);
      child.kill('SIGHUP');
      await waitFor(async () => JSON.stringify(await names()) === JSON.stringify(['two', 'three']));
      expect((await fetch(`${base}${API}?target=three`)).status).toBe(200);
      expect((await fetch(`${base}${API}?target=one`)).status).toBe(404);
      fs.writeFileSync(file, 'targets: [ { name: broken');
      child.kill('SIGHUP');
      await waitFor(async () => output.includes('the running configuration stays'));
      expect(await names()).toEqual(['two', 'three']);
      const password = new URL(db.monitorUrl).password;
      expect(output).not.toContain(password);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  }, 60_000);
});
