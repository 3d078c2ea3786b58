import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { HistoryCollector } from '../src/history/collector.service';
import { API, createTestApp, serverMajor } from './support/harness';

const MAIN = path.join(__dirname, '..', 'dist', 'main.js');
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The embedded store (HISTORY_DIR): kept across starts, refused when newer, whole after a kill -9. */
describe('the embedded history store', () => {
  let watched: EmbeddedPostgres;
  let dir: string;
  let runner: postgres.Sql;

  beforeAll(async () => {
    watched = await EmbeddedPostgres.start({
      major: serverMajor(),
      settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.max': 5000 },
    });
    runner = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await runner.unsafe('create extension pg_stat_statements; create table t (id int)');
  }, 60_000);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-history-'));
  });

  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  afterAll(async () => {
    await runner?.end();
    await watched?.stop();
  });

  const app = (env: Record<string, string> = {}) =>
    createTestApp(watched.url(), {
      HISTORY: 'on',
      HISTORY_DIR: dir,
      HISTORY_STATEMENTS_INTERVAL: '1h',
      ...env,
    });

  it('keeps its history across a restart of pgscope, in HISTORY_DIR', async () => {
    const first = await app();
    const collect = (a: typeof first) => a.app.get(HistoryCollector).now!.collectNow('default', ['statements']);
    await collect(first);
    for (let i = 0; i < 4; i++) await runner`select count(*) from t where id = ${i}`;
    await collect(first);
    const before = await first.get(`${API}/statements?window=1h&limit=1000`);
    await first.close();
    const second = await app();
    try {
      const after = await second.get(`${API}/statements?window=1h&limit=1000`);
      const find = (body: any) => body.statements.find((s: any) => s.query === 'select count(*) from t where id = $1');
      expect(find(before.body).calls).toBe(4);
      expect(find(after.body).calls).toBe(4);
      const status = await second.get(`${API}/history`);
      expect(status.body.store).toMatchObject({ kind: 'embedded', schemaVersion: 4 });
      expect(status.body.store.bytes).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });

  it.each([
    ['redacted', (q: string | null) => expect(q).toMatch(/^set application_name = /i)],
    ['none', (q: string | null) => expect(q).toBeNull()],
  ])('keeps no more of the texts than QUERY_TEXT=%s shows', async (mode, check) => {
    const a = await app({ QUERY_TEXT: mode as string });
    try {
      await runner.unsafe("set application_name = 'top-secret-literal'");
      await a.app.get(HistoryCollector).now!.collectNow('default', ['statements']);
      const store = postgres(
        `postgres://postgres:${fs.readFileSync(path.join(dir, 'password'), 'utf8').trim()}@127.0.0.1:${
          fs.readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[3]
        }/postgres`,
        { max: 1, onnotice: () => undefined },
      );
      try {
        const texts = await store<{ query: string | null }[]>`select query from statement_texts`;
        expect(texts.length).toBeGreaterThan(0);
        expect(JSON.stringify(texts)).not.toContain('top-secret-literal');
        const [set] = await store<{ query: string | null }[]>`
          select query from statement_texts where query ilike 'set application_name%' or query is null limit 1`;
        (check as (q: string | null) => void)(set.query);
      } finally {
        await store.end();
      }
    } finally {
      await a.close();
    }
  });

  it('refuses a store written by a newer pgscope, and leaves it as it was', async () => {
    const first = await app();
    await first.close();
    // What a later pgscope would have recorded.
    const store = await EmbeddedPostgres.start({ dataDir: dir });
    const sql = postgres(store.url(), { max: 1, onnotice: () => undefined });
    await sql`insert into pgscope_migrations (version, name) values (99, '0099_future.sql')`;
    await sql.end();
    await store.stop();
    await expect(app()).rejects.toThrow(/history store is at version 99, written by a newer pgscope/);
    const again = await EmbeddedPostgres.start({ dataDir: dir });
    const check = postgres(again.url(), { max: 1, onnotice: () => undefined });
    try {
      const rows = await check<{ version: number }[]>`select version from pgscope_migrations order by version`;
      expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 99]);
    } finally {
      await check.end();
      await again.stop();
    }
  });

  it('after kill -9 mid-collection, has no partial snapshot and counts nothing twice', async () => {
    // 2,000 entries: a statements collection takes long enough to be killed in the middle of one.
    for (let n = 1; n <= 2000; n++) await runner.unsafe(`select ${n} as c${n}`);
    const start = () => {
      const child: ChildProcess = spawn(process.execPath, [MAIN], {
        env: {
          ...process.env,
          PORT: '0',
          DATABASE_URL: watched.url(),
          HISTORY: 'on',
          HISTORY_DIR: dir,
          HISTORY_STATEMENTS_INTERVAL: '1s',
          LOG_LEVEL: 'warn',
        },
        stdio: 'ignore',
      });
      return child;
    };
    const storeRows = async () => {
      const store = await EmbeddedPostgres.start({ dataDir: dir });
      const sql = postgres(store.url(), { max: 1, onnotice: () => undefined });
      try {
        return await sql<{ at: Date; rows: number; stored: number; prevAt: Date | null }[]>`
          select s.at, s.rows, s.prev_at as "prevAt",
                 (select count(*)::int from statement_deltas d where d.at = s.at and d.target_id = s.target_id) as stored
            from snapshots s where s.family = 'statements' order by s.at`;
      } finally {
        await sql.end();
        await store.stop();
      }
    };
    let caught = 0;
    for (let round = 0; round < 4; round++) {
      const child = start();
      // A round lets two more snapshots complete before it hunts for one in flight (counted, not timed: a loaded
      // machine collects slower).
      const wanted = 2 * (round + 1);
      const exited = new Promise((r) => child.once('exit', r));
      let probe: postgres.Sql | undefined;
      // Whatever happens in the round, the child is killed: a service left running would keep jest from exiting.
      try {
        await delay(1000);
        for (let i = 0; i < 50; i++) await runner.unsafe(`select ${i} as c${i % 7}`);
        // Killed while a snapshot's transaction is open on the store (its backend is in a transaction). The store
        // may still be the last round's orphan, being stopped, or not yet created: read its password and port
        // afresh until one answers.
        for (const until = Date.now() + 30_000; Date.now() < until;) {
          try {
            const password = fs.readFileSync(path.join(dir, 'password'), 'utf8').trim();
            const port = Number(fs.readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[3]);
            probe ??= postgres(`postgres://postgres:${password}@127.0.0.1:${port}/postgres`, {
              max: 1,
              onnotice: () => undefined,
              connect_timeout: 2,
            });
            const [row] = await probe<{ n: number; done: number }[]>`
              select (select count(*)::int from pg_stat_activity
                       where application_name = 'pgscope-history' and xact_start is not null) as n,
                     (select count(*)::int from snapshots where family = 'statements') as done`;
            if (row.n > 0 && row.done >= wanted) {
              caught++;
              break;
            }
          } catch {
            // Not up (or the orphan just went away): a new connection next time.
            await probe?.end({ timeout: 0 }).catch(() => undefined);
            probe = undefined;
            await delay(100);
          }
        }
      } finally {
        child.kill('SIGKILL');
        await exited;
        await probe?.end({ timeout: 1 }).catch(() => undefined);
      }
    }
    expect(caught).toBeGreaterThan(0);
    const snapshots = await storeRows();
    expect(snapshots.length).toBeGreaterThan(4);
    for (const s of snapshots) expect([s.at.toISOString(), s.stored]).toEqual([s.at.toISOString(), s.rows]);
    // Every interval starts where the previous snapshot ended, or is a baseline: none is counted twice.
    for (let i = 1; i < snapshots.length; i++) {
      const { prevAt } = snapshots[i];
      if (prevAt !== null) expect(prevAt.toISOString()).toBe(snapshots[i - 1].at.toISOString());
    }
    // Deltas only where a snapshot says so.
    const store = await EmbeddedPostgres.start({ dataDir: dir });
    const sql = postgres(store.url(), { max: 1, onnotice: () => undefined });
    try {
      const [orphans] = await sql<{ n: number }[]>`
        select count(*)::int as n from statement_deltas d
         where not exists (select 1 from snapshots s where s.at = d.at and s.target_id = d.target_id)`;
      expect(orphans.n).toBe(0);
    } finally {
      await sql.end();
      await store.stop();
    }
  }, 120_000);
});
