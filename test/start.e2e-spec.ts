import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MAIN = path.join(__dirname, '..', 'dist', 'main.js');

interface Started {
  child: ChildProcess;
  output: () => string;
  baseUrl: string;
  postgresPid: number;
  /** The node process serving (under npm, not the child spawned here). */
  servicePid: number;
  dataDir: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `npm start` without DATABASE_URL, as a user runs it (the compiled app; `npm test` builds first): node directly, or
 * through npm itself (`viaNpm`, without the prestart build, which `npm test` has done).
 */
async function startService(env: Record<string, string> = {}, viaNpm = false): Promise<Started> {
  if (!fs.existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` (npm test does)');
  // The demo keeps its history in a directory of the test's own (HISTORY_DIR), removed afterwards.
  const historyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-start-history-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HISTORY_DIR: historyDir, ...env };
  delete childEnv.DATABASE_URL;
  const [command, args] = viaNpm ? ['npm', ['start', '--ignore-scripts', '--silent']] : [process.execPath, [MAIN]];
  const child = spawn(command, args, {
    env: childEnv,
    cwd: path.join(__dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      fs.rmSync(historyDir, { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );
  const deadline = Date.now() + 60_000;
  const readyLine = () => /Swagger UI at (http:\/\/[^/\s]+)\/docs/.exec(output);
  while (!readyLine() && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const ready = readyLine();
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(`pgscope did not become ready:\n${output}`);
  }
  const embedded = /embedded PostgreSQL \d+ \(pid (\d+), data (\S+)\)/.exec(output);
  if (!embedded) throw new Error(`no embedded server line in:\n${output}`);
  const service = /\[Nest\] (\d+) /.exec(output);
  return {
    child,
    output: () => output,
    baseUrl: ready[1],
    postgresPid: Number(embedded[1]),
    servicePid: Number(service?.[1]),
    dataDir: embedded[2],
    exit,
  };
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start without DATABASE_URL', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'serves real data from an embedded server, and %s leaves no postgres process behind',
    async (signal) => {
      const service = await startService();
      try {
        expect(alive(service.postgresPid)).toBe(true);
        const docs = await fetch(`${service.baseUrl}/docs`);
        expect(docs.status).toBe(200);
        expect(await docs.text()).toContain('swagger-ui');
        const overview: any = await (await fetch(`${service.baseUrl}/api/db/monitoring/postgres`)).json();
        expect(overview).toMatchObject({
          currentDatabase: 'demo',
          currentUser: 'pgscope',
          capabilities: { pgMonitor: true, superuser: false, pgStatStatements: { installed: true, preloaded: true } },
          meta: { warnings: [] },
        });
        expect(overview.databaseSizeBytes).toBeGreaterThan(1_000_000);
        // The demo role may read the demo's tables, so their bloat estimates have column statistics to use.
        const indexes: any = await (
          await fetch(`${service.baseUrl}/api/db/monitoring/postgres/indexes?schema=shop&table=orders`)
        ).json();
        expect(indexes.tables[0].bloat.confidence).not.toBe('unavailable');
        expect(indexes.meta.warnings.map((w: any) => w.code)).not.toContain('STATS_HIDDEN');
      } finally {
        service.child.kill(signal);
      }
      const { code } = await service.exit;
      expect(code).toBe(0);
      expect(alive(service.postgresPid)).toBe(false);
      expect(fs.existsSync(service.dataDir)).toBe(false);
    },
  );

  it('shows deltas and the load of the demo workload within a minute (history cadences of 10 s)', async () => {
    const service = await startService();
    try {
      const started = Date.now();
      let statements: any[] = [];
      while (Date.now() - started < 60_000) {
        const res: any = await (
          await fetch(`${service.baseUrl}/api/db/monitoring/postgres/statements?window=5m&minCalls=1&limit=5`)
        ).json();
        statements = res.statements ?? [];
        if (statements.length > 0) {
          expect(res.meta.window.coveredSeconds).toBeGreaterThan(0);
          break;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(statements[0]).toMatchObject({ calls: expect.any(Number), callsPerSecond: expect.any(Number) });
      expect(statements[0].calls).toBeGreaterThan(0);
      // pg_stat_database's cadence is its own: wait for its second snapshot (the first is a baseline).
      let points: any[] = [];
      while (Date.now() - started < 60_000) {
        const cache: any = await (
          await fetch(`${service.baseUrl}/api/db/monitoring/postgres/history/database?window=5m&step=10s`)
        ).json();
        points = cache.points ?? [];
        if (points.some((p: any) => p.transactionsPerSecond > 0)) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(points.some((p: any) => p.transactionsPerSecond > 0)).toBe(true);
      // The load chart data: the demo's slow report (pg_sleep) and its lock chain, within a minute of the start.
      let top: any[] = [];
      let chains: any[] = [];
      while (Date.now() - started < 60_000) {
        const load: any = await (
          await fetch(`${service.baseUrl}/api/db/monitoring/postgres/load/top?window=5m&by=waitEvent`)
        ).json();
        const locks: any = await (
          await fetch(`${service.baseUrl}/api/db/monitoring/postgres/activity/locks?window=5m`)
        ).json();
        top = load.contributors ?? [];
        chains = locks.chains ?? [];
        if (top.some((c) => c.key === 'Timeout:PgSleep') && chains.length > 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(top.find((c) => c.key === 'Timeout:PgSleep')?.activeSessions).toBeGreaterThan(0);
      expect(chains[0]).toMatchObject({ maxWaiting: 1, holds: 'relation shop.products (ShareRowExclusiveLock)' });
    } finally {
      service.child.kill('SIGTERM');
    }
    expect((await service.exit).code).toBe(0);
  }, 90_000);

  // What `kill $!`, `docker stop` on CMD ["npm","start"], or systemd do: signal npm's process only.
  it('stops node and its embedded server when only npm gets SIGTERM, and survives a second signal', async () => {
    const service = await startService({}, true);
    expect(service.servicePid).not.toBe(service.child.pid);
    expect(alive(service.servicePid)).toBe(true);
    service.child.kill('SIGTERM');
    // A second signal straight to the service, as a process group kill adds: it keeps closing cleanly.
    await new Promise((r) => setTimeout(r, 100));
    if (alive(service.servicePid)) process.kill(service.servicePid, 'SIGTERM');
    await service.exit;
    // Within the shutdown grace period (10 s) and the embedded server's own stop.
    expect(await gone(service.servicePid, 15_000)).toBe(true);
    expect(await gone(service.postgresPid, 5_000)).toBe(true);
    expect(fs.existsSync(service.dataDir)).toBe(false);
    expect(service.output()).toContain('SIGTERM received again: already closing');
  }, 90_000);

  it('refuses a bad variable with exit code 1 and one line naming it', async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toBe('Invalid configuration: PORT must be an integer port from 0 to 65535\n');
  });
});
