import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { ChecksNotifier, signature } from '../src/checks/checks.notifier';
import { ChecksRunner } from '../src/checks/checks.runner';
import { EmbeddedPostgres, freePort } from '../src/embedded/embedded';
import { API, createTestApp, flushStats, serverMajor, TestApp, waitFor } from './support/harness';

const SECRET = 'webhook-secret';
const ALERTMANAGER = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus-alertmanager || command -v alertmanager'])
      .toString()
      .trim();
  } catch {
    return null;
  }
})();

interface Received {
  body: any;
  valid: boolean;
}

/**
 * Checks against a watched server of its own, each driven by a staged situation (thresholds lowered in the test's
 * CHECKS_FILE where the real one is impractical, the real figure asserted): an idle-in-transaction session through
 * ok → warning → critical → ok with exactly one signed webhook per change, a receiver that is down, and a real
 * Alertmanager receiving and resolving the alert.
 */
describe('checks and alerts', () => {
  let watched: EmbeddedPostgres;
  let api: TestApp;
  let admin: postgres.Sql;
  let receiver: http.Server;
  let alertmanager: ChildProcess | undefined;
  let amPort = 0;
  const received: Received[] = [];
  const others: postgres.Sql[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-checks-'));

  beforeAll(async () => {
    watched = await EmbeddedPostgres.start({
      major: serverMajor(),
      settings: {
        archive_mode: 'on',
        archive_command: 'false',
        'pg_stat_statements.max': 100,
        autovacuum_naptime: 3600,
      },
    });
    admin = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe(`
      create extension pg_stat_statements;
      create sequence near_end as integer;
      select setval('near_end', 2040109465);
      create table dupes (v int);
      insert into dupes values (1), (1);
      create table dead_t (id int primary key) with (autovacuum_enabled = false);
      insert into dead_t select generate_series(1, 1000);`);
    await flushStats(admin);
    await admin.unsafe('analyze dead_t');
    await admin.unsafe('delete from dead_t where id <= 600');
    await admin.unsafe('create unique index concurrently dupes_v on dupes (v)').catch(() => undefined);
    await admin`select pg_create_physical_replication_slot('gone', true)`;
    await admin`select pg_switch_wal()`;
    await admin.unsafe(`alter system set shared_buffers = '200MB'`);
    await admin`select pg_reload_conf()`;
    await flushStats(admin);

    const port = await freePort();
    receiver = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        received.push({
          body: JSON.parse(data),
          valid: req.headers['x-pgscope-signature'] === signature(SECRET, data),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
    if (ALERTMANAGER) {
      amPort = await freePort();
      fs.writeFileSync(path.join(dir, 'am.yml'), 'route: { receiver: none }\nreceivers: [{ name: none }]\n');
      alertmanager = spawn(
        ALERTMANAGER,
        [
          `--config.file=${path.join(dir, 'am.yml')}`,
          `--storage.path=${path.join(dir, 'am')}`,
          `--web.listen-address=127.0.0.1:${amPort}`,
          '--cluster.listen-address=',
        ],
        { stdio: 'ignore' },
      );
      await waitFor(async () => (await fetch(`http://127.0.0.1:${amPort}/-/ready`).catch(() => null))?.ok, 20_000);
    }
    fs.writeFileSync(
      path.join(dir, 'checks.yml'),
      `interval: 1h
for: 1
checks:
  idle_in_transaction: { warning: 1s, critical: 4s }
  xmin_horizon: { warning: 1 }
  connections: { warning: 1, critical: 99 }
  slot_retained_wal: { warning: 1KB, critical: 10GB }
  xid_wraparound: { warning: 0.00000001 }
  statements_capacity: { warning: 1, critical: 99 }
  long_query: { enabled: false }
`,
    );
    api = await createTestApp(watched.url(), {
      CHECKS_FILE: path.join(dir, 'checks.yml'),
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      ALERT_WEBHOOK_SECRET: SECRET,
      ...(ALERTMANAGER ? { ALERTMANAGER_URL: `http://127.0.0.1:${amPort}` } : {}),
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(others.map((s) => s.end({ timeout: 1 }).catch(() => undefined)));
    await admin?.end();
    await api?.close();
    receiver?.closeAllConnections();
    await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
    if (alertmanager && alertmanager.exitCode === null) {
      const exited = new Promise((r) => alertmanager!.once('exit', r));
      alertmanager.kill('SIGTERM');
      await exited;
    }
    await watched?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const runner = () => api.app.get(ChecksRunner);
  const evaluate = async () => {
    await runner().evaluateNow();
    await api.app.get(ChecksNotifier).settled();
  };
  const check = async (id: string, database?: string) => {
    const res = await api.get(`${API}/checks?id=${id}`);
    expect(res.status).toBe(200);
    return res.body.checks.find((c: any) => database === undefined || c.database === database);
  };

  it('judges each staged situation, with its figure, evidence and fix', async () => {
    await evaluate();
    const seq = await check('sequence_exhaustion');
    expect(seq).toMatchObject({ status: 'critical', value: 95, unit: '%', warning: 75, critical: 90 });
    expect(seq.evidence[0]).toMatchObject({ kind: 'sequence', name: 'public.near_end' });
    expect(seq.hint).toBe(
      'ALTER SEQUENCE public.near_end AS bigint (and the column it feeds: ALTER TABLE … TYPE bigint)',
    );

    expect(await check('invalid_indexes')).toMatchObject({
      status: 'warning',
      value: 1,
      evidence: [{ kind: 'index', name: 'public.dupes_v', value: null }],
      hint: 'REINDEX INDEX CONCURRENTLY public.dupes_v; (or DROP INDEX CONCURRENTLY it)',
    });
    const slot = await check('slot_retained_wal');
    expect(slot).toMatchObject({ status: 'warning', warning: 1024, critical: 10 * 1024 ** 3 });
    expect(slot.evidence[0].name).toBe('gone');
    expect(slot.hint).toBe("SELECT pg_drop_replication_slot('gone'); if its consumer is gone");
    const [{ retained }] = await admin<{ retained: string }[]>`
      select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 as retained from pg_replication_slots`;
    expect(slot.value).toBeLessThanOrEqual(Number(retained));
    expect(slot.value).toBeGreaterThan(1024);

    const xid = await check('xid_wraparound', 'postgres');
    const [{ age }] = await admin<
      { age: string }[]
    >`select age(datfrozenxid)::int8 as age from pg_database where datname = 'postgres'`;
    const limit = 2 ** 31 - 1 - (serverMajor() >= 14 ? 3_000_000 : 1_000_000);
    expect(xid.status).toBe('warning');
    expect(xid.value).toBeCloseTo((Number(age) / limit) * 100, 3);

    expect(await check('pending_restart')).toMatchObject({
      status: 'warning',
      value: 1,
      evidence: [{ kind: 'setting', name: 'shared_buffers' }],
    });
    expect(await check('autovacuum_overdue')).toMatchObject({
      status: 'warning',
      // 600 changes since the analyze of 1000 rows over 50 + 0.1 × 1000: 4 times its threshold.
      value: 4,
      evidence: [{ kind: 'table', name: 'public.dead_t', value: 4 }],
    });
    expect((await check('stats_age')).status).toBe('warning');
    // initdb turns data checksums on from 18: a failure count there, none to count before.
    if (serverMajor() >= 18) expect(await check('checksum_failures')).toMatchObject({ status: 'ok', value: 0 });
    else {
      expect(await check('checksum_failures')).toMatchObject({
        status: 'unknown',
        reason: expect.stringContaining('checksums are off'),
      });
    }
    expect(await check('cache_hit_ratio')).toMatchObject({ status: 'unknown', reason: 'history is off (HISTORY=off)' });
    expect(await check('long_query')).toMatchObject({ status: 'disabled', hint: null });
    expect((await check('connections')).status).toBe('warning');
    const statements = await check('statements_capacity');
    expect(statements.status).toBe('warning');
    expect(statements.evidence[0]).toMatchObject({ name: 'pg_stat_statements.max', value: 100 });
    expect(await check('replication_lag_bytes')).toMatchObject({ status: 'ok', value: 0, hint: null });

    await admin`select pg_switch_wal()`;
    const archiver = await waitFor(async () => {
      await evaluate();
      const c = await check('archiver_failing');
      return c.status === 'critical' ? c : null;
    }, 20_000);
    expect(archiver.value).toBe(1);
    expect(archiver.evidence[0].kind).toBe('wal');

    // Critical first.
    const all = (await api.get(`${API}/checks`)).body.checks.map((c: any) => c.status);
    expect(all.indexOf('critical')).toBe(0);
    expect(all.lastIndexOf('critical')).toBeLessThan(all.indexOf('warning'));
  });

  it('moves idle_in_transaction ok → warning → critical → ok, with one signed webhook per change', async () => {
    await evaluate();
    expect((await check('idle_in_transaction')).status).toBe('ok');
    received.length = 0;
    const s = postgres(watched.url(), {
      max: 1,
      onnotice: () => undefined,
      connection: { application_name: 'forgotten' },
    });
    others.push(s);
    const r = await s.reserve();
    await r`begin`;
    const [{ pid }] = await r<{ pid: number }[]>`select pg_backend_pid() as pid, txid_current()`;
    await new Promise((res) => setTimeout(res, 1500));
    await evaluate();
    const warning = await check('idle_in_transaction');
    expect(warning).toMatchObject({ status: 'warning', warning: 1, critical: 4, unit: 's' });
    expect(warning.evidence[0]).toMatchObject({ kind: 'session', name: `${pid} (forgotten)` });
    expect(warning.hint).toBe(`SELECT pg_terminate_backend(${pid}); and set idle_in_transaction_session_timeout`);
    expect((await check('xmin_horizon')).hint).toBe(`SELECT pg_terminate_backend(${pid});`);
    await evaluate();
    await new Promise((res) => setTimeout(res, 3000));
    await evaluate();
    expect((await check('idle_in_transaction')).status).toBe('critical');
    if (ALERTMANAGER) {
      const alerts = await waitFor(async () => {
        const list = (await (await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts`)).json()) as any[];
        return list.find(
          (a) => a.labels.alertname === 'pgscope_idle_in_transaction' && a.labels.severity === 'critical',
        );
      }, 10_000);
      expect(alerts.labels).toMatchObject({ target: 'default', check: 'idle_in_transaction' });
    }
    await r`rollback`;
    r.release();
    await evaluate();
    expect((await check('idle_in_transaction')).status).toBe('ok');

    const mine = received.filter((x) => x.body.check === 'idle_in_transaction');
    expect(mine.map((x) => [x.body.previous, x.body.status])).toEqual([
      ['ok', 'warning'],
      ['warning', 'critical'],
      ['critical', 'ok'],
    ]);
    expect(mine.every((x) => x.valid)).toBe(true);
    expect(mine[1].body).toMatchObject({ target: 'default', unit: 's', critical: 4, hint: expect.any(String) });
    if (ALERTMANAGER) {
      // Resolved: no longer among the active alerts.
      await waitFor(async () => {
        const list = (await (await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts?active=true`)).json()) as any[];
        return !list.some((a) => a.labels.alertname === 'pgscope_idle_in_transaction');
      }, 10_000);
    } else {
      console.warn('prometheus-alertmanager is not installed: the Alertmanager part is skipped');
    }
    // The status changes are in /metrics too.
    const metrics = await api.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/pgscope_check_status\{target="default",check="idle_in_transaction",database=""\} 0/);
  }, 60_000);

  it('reports a change only once it held for `for` evaluations, and a dead receiver delays nothing', async () => {
    const file = path.join(dir, 'damped.yml');
    fs.writeFileSync(file, 'for: 2\nchecks:\n  idle_in_transaction: { warning: 1s, critical: 1h }\n');
    const damped = await createTestApp(watched.url(), {
      CHECKS_FILE: file,
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/nobody`,
    });
    const s = postgres(watched.url(), { max: 1, onnotice: () => undefined });
    others.push(s);
    try {
      const run = damped.app.get(ChecksRunner);
      await run.evaluateNow();
      const r = await s.reserve();
      await r`begin`;
      await r`select txid_current()`;
      await new Promise((res) => setTimeout(res, 1500));
      const status = async () =>
        (await damped.get(`${API}/checks?id=idle_in_transaction`)).body.checks[0].status as string;
      await run.evaluateNow();
      expect(await status()).toBe('ok');
      const t0 = Date.now();
      await run.evaluateNow();
      expect(await status()).toBe('warning');
      // The notification to a port nobody listens on is being retried, in the background.
      expect(Date.now() - t0).toBeLessThan(5000);
      await waitFor(async () => damped.app.get(ChecksNotifier).stats.webhookRetries > 0, 5000);
      await r`rollback`;
      r.release();
    } finally {
      await damped.close();
    }
  }, 60_000);

  it('refuses a bad CHECKS_FILE naming the key, and bad filters with a 400', async () => {
    const bad = path.join(dir, 'bad.yml');
    fs.writeFileSync(bad, 'checks:\n  nope: { warning: 1 }\n');
    await expect(createTestApp(watched.url(), { CHECKS_FILE: bad })).rejects.toThrow(
      /CHECKS_FILE must be one of the check ids .* \(checks: nope\)/,
    );
    fs.writeFileSync(bad, 'checks:\n  slot_retained_wal: { warning: lots }\n');
    await expect(createTestApp(watched.url(), { CHECKS_FILE: bad })).rejects.toThrow(
      /checks\.slot_retained_wal\.warning/,
    );
    for (const [q, param] of [
      ['status=bad', 'status'],
      ['id=bad', 'id'],
    ]) {
      const res = await api.get(`${API}/checks?${q}`);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain(param);
    }
    expect((await api.get(`${API}/checks?target=nope`)).status).toBe(404);
    expect((await api.get(`${API}/checks/events?window=1h`)).status).toBe(409);
  });
});
