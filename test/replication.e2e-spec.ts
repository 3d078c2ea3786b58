import postgres from 'postgres';
import { EmbeddedPostgres } from '../src/embedded/embedded';
import { API, createTestApp, flushStats, serverMajor, TestApp, waitFor } from './support/harness';
import { removeStandby, startStandby } from './support/standby';

/**
 * Replication and I/O against a real primary and a streaming standby made from the shipped binaries: replay paused
 * while the primary writes (lag grows), resumed and idle (lag does not), a physical slot in use and one never used,
 * a logical slot, an archive_command that fails; then a cold read larger than shared_buffers and a CHECKPOINT.
 */
describe('replication and I/O', () => {
  let primary: EmbeddedPostgres;
  let standby: EmbeddedPostgres | undefined;
  let onPrimary: TestApp;
  let onStandby: TestApp;
  let admin: postgres.Sql;
  let replica: postgres.Sql;

  beforeAll(async () => {
    primary = await EmbeddedPostgres.start({
      major: serverMajor(),
      settings: {
        wal_level: 'logical',
        archive_mode: 'on',
        // Fails every time: the archiver reports failures.
        archive_command: 'false',
        shared_buffers: '16MB',
        checkpoint_timeout: '1h',
        wal_keep_size: 0,
      },
    });
    admin = postgres(primary.url(), { max: 1, onnotice: () => undefined });
    await admin.unsafe(`create table events (id serial primary key, pad text)`);
    await admin`select pg_create_physical_replication_slot('standby_slot', true)`;
    await admin`select pg_create_physical_replication_slot('unused_slot', true)`;
    await admin`select pg_create_logical_replication_slot('logical_slot', 'test_decoding')`;
    standby = await startStandby(primary, {
      slot: 'standby_slot',
      applicationName: 'replica-1',
      settings: { wal_receiver_status_interval: 1, hot_standby_feedback: 'on' },
    });
    replica = postgres(standby.url(), { max: 1, onnotice: () => undefined });
    onPrimary = await createTestApp(primary.url());
    onStandby = await createTestApp(standby.url());
    await waitFor(async () => {
      const [row] = await admin<
        { n: number }[]
      >`select count(*)::int as n from pg_stat_replication where state = 'streaming'`;
      return row.n === 1;
    }, 30_000);
  }, 120_000);

  afterAll(async () => {
    await replica?.end();
    await admin?.end();
    await onPrimary?.close();
    await onStandby?.close().catch(() => undefined);
    await removeStandby(standby);
    await primary?.stop();
  });

  const replication = async (app: TestApp) => {
    const res = await app.get(`${API}/replication`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const write = (rows: number) =>
    admin`insert into events (pad) select repeat('x', 100) from generate_series(1, ${rows})`;
  const caughtUp = () =>
    waitFor(async () => {
      const [row] = await admin<{ ok: boolean }[]>`
        select bool_and(replay_lsn = pg_current_wal_lsn()) as ok from pg_stat_replication`;
      return row.ok;
    }, 30_000);

  it('shows byte lag and replay lag growing while replay is paused and the primary writes', async () => {
    await replica`select pg_wal_replay_pause()`;
    try {
      await write(2000);
      // Received but not replayed: the standby has it flushed.
      await waitFor(async () => {
        const [row] = await admin<{ ok: boolean }[]>`
          select flush_lsn = pg_current_wal_lsn() and replay_lsn < flush_lsn as ok from pg_stat_replication`;
        return row.ok;
      }, 30_000);
      // Replay stands still (the pause takes effect asynchronously), so the lag only grows with the primary's WAL
      // (background records may add some): the answer lies between two direct readings around it.
      const lag = async () => {
        const [row] = await admin<{ lag: string; replay: string }[]>`
          select pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::int8 as lag, replay_lsn::text as replay
            from pg_stat_replication`;
        return row;
      };
      let before = await lag();
      await waitFor(async () => {
        await new Promise((r) => setTimeout(r, 300));
        const now = await lag();
        const still = now.replay === before.replay;
        before = now;
        return still;
      }, 30_000);
      const p = await replication(onPrimary);
      const after = await lag();
      expect(p.role).toBe('primary');
      const [s] = p.standbys;
      expect(s).toMatchObject({ applicationName: 'replica-1', state: 'streaming', syncState: 'async' });
      expect(after.replay).toBe(before.replay);
      expect(s.replayLsn).toBe(before.replay);
      expect(s.replayLagBytes).toBeGreaterThanOrEqual(Number(before.lag));
      expect(s.replayLagBytes).toBeLessThanOrEqual(Number(after.lag));
      expect(s.replayLagBytes).toBeGreaterThan(100_000);

      const r = await replication(onStandby);
      expect(r.role).toBe('standby');
      expect(r.standbys).toEqual([]);
      expect(r.receiver).toMatchObject({
        replayPaused: true,
        replayDelayBasis: 'behind',
        status: 'streaming',
        slotName: 'standby_slot',
        senderPort: primary.port,
      });
      expect(r.receiver.lagBytes).toBeGreaterThan(100_000);
      expect(r.receiver.replayDelayMs).toBe(r.receiver.timeSinceLastReplayMs);
    } finally {
      await replica`select pg_wal_replay_resume()`;
    }
  });

  it('shows no growing lag once the standby has replayed everything and the primary is idle', async () => {
    await write(10);
    await caughtUp();
    // Longer than the standby's reply interval (1 s), several times over.
    await new Promise((r) => setTimeout(r, 3500));
    const first = (await replication(onPrimary)).standbys[0];
    await new Promise((r) => setTimeout(r, 2000));
    const second = (await replication(onPrimary)).standbys[0];
    for (const s of [first, second]) {
      expect(s).toMatchObject({ sentLagBytes: 0, writeLagBytes: 0, flushLagBytes: 0, replayLagBytes: 0 });
    }
    // PostgreSQL's own lag times: null after an idle spell, never a clock difference that grows with idleness.
    for (const key of ['writeLagMs', 'flushLagMs', 'replayLagMs']) {
      if (second[key] !== null) expect(second[key]).toBeLessThanOrEqual(first[key] ?? Infinity);
    }
    expect(second.replyAgeMs).toBeLessThan(2500);
    const r = (await replication(onStandby)).receiver;
    expect(r).toMatchObject({ lagBytes: 0, replayPaused: false, replayDelayBasis: 'caught_up', replayDelayMs: 0 });
    expect(r.timeSinceLastReplayMs).toBeGreaterThan(3000);
  });

  it('puts the inactive slot retaining WAL first, with exactly the bytes pg_wal_lsn_diff gives', async () => {
    await write(500);
    await admin`select pg_switch_wal()`;
    await write(10);
    const before = await admin<{ name: string; retained: string }[]>`
      select slot_name as name, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 as retained
        from pg_replication_slots order by slot_name`;
    const p = await replication(onPrimary);
    const after = await admin<{ name: string; retained: string }[]>`
      select slot_name as name, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 as retained
        from pg_replication_slots order by slot_name`;
    // Inactive slots retaining WAL first, most retained first (the unused one is the oldest); the standby's last.
    expect(p.slots.map((s: any) => [s.name, s.active])).toEqual([
      ['unused_slot', false],
      ['logical_slot', false],
      ['standby_slot', true],
    ]);
    expect(p.slots[0].retainedBytes).toBeGreaterThanOrEqual(p.slots[1].retainedBytes);
    // An inactive slot's restart_lsn stands still: its figure lies between two direct readings around the request.
    for (const s of p.slots.filter((x: any) => !x.active)) {
      const b = Number(before.find((x) => x.name === s.name)!.retained);
      const a = Number(after.find((x) => x.name === s.name)!.retained);
      expect(s.retainedBytes).toBeGreaterThanOrEqual(b);
      expect(s.retainedBytes).toBeLessThanOrEqual(a);
    }
    const unused = p.slots.find((s: any) => s.name === 'unused_slot');
    expect(unused.retainedBytes).toBeGreaterThan(16 * 1024 * 1024 - 1);
    expect(unused).toMatchObject({ type: 'physical', walStatus: expect.any(String), xminAge: null });
    const logical = p.slots.find((s: any) => s.name === 'logical_slot');
    expect(logical).toMatchObject({ type: 'logical', plugin: 'test_decoding', database: 'postgres', xminAge: null });
    expect(logical.catalogXminAge).toBeGreaterThan(0);
    if (serverMajor() >= 17) expect(logical.inactiveSince).not.toBeNull();
    else expect(logical.inactiveSince).toBeNull();
    if (serverMajor() >= 16) expect(logical.conflicting).toBe(false);
    else expect(logical.conflicting).toBeNull();
    // The standby's slot holds the xmin hot_standby_feedback reports.
    expect(p.standbys[0].backendXminAge).not.toBeUndefined();
  });

  it('says the archiver is failing when its last failure is newer than its last success', async () => {
    await admin`select pg_switch_wal()`;
    const archiver = await waitFor(async () => {
      const a = (await replication(onPrimary)).archiver;
      return a.failedCount > 0 ? a : null;
    }, 30_000);
    expect(archiver).toMatchObject({ archiveMode: 'on', failing: true, archivedCount: 0, lastArchivedWal: null });
    expect(archiver.lastFailedWal).toMatch(/^[0-9A-F]{24}$/);
  });

  it('shows reads and evictions of a cold read larger than shared_buffers, and a CHECKPOINT as requested', async () => {
    await admin.unsafe(`create table cold (id int, pad text);
      insert into cold select g, repeat('c', 500) from generate_series(1, 60000) g;`);
    await admin`checkpoint`;
    const io = async () => {
      await flushStats(admin);
      const res = await onPrimary.get(`${API}/io`);
      expect(res.status).toBe(200);
      return res.body;
    };
    const before = await io();
    // Read by this backend alone (no parallel workers: they count as background workers).
    await admin`set max_parallel_workers_per_gather = 0`;
    await admin`select count(*) from cold`;
    await admin`select count(*) from cold`;
    await admin`reset max_parallel_workers_per_gather`;
    const after = await io();
    if (serverMajor() >= 16) {
      const key = (r: any) => `${r.backendType}/${r.object}/${r.context}`;
      const row = (body: any, k: string) => body.io.find((r: any) => key(r) === k);
      const k = 'client backend/relation/bulkread';
      const [{ pages }] = await admin<{ pages: number }[]>`
        select (pg_relation_size('cold') / current_setting('block_size')::int)::int as pages`;
      // 30 MB scanned twice through a ring buffer, with 16 MB of shared_buffers: every block of both scans is a hit
      // or a read (in bytes: 18 counts read operations, which combine blocks), and some are reads.
      const blocks = (r: any) => (r ? (r.readBytes ?? 0) / 8192 + (r.hits ?? 0) : 0);
      expect(blocks(row(after, k)) - blocks(row(before, k))).toBeGreaterThanOrEqual(2 * pages);
      expect(row(after, k).reads - (row(before, k)?.reads ?? 0)).toBeGreaterThan(0);
      expect(
        row(after, k).evictions + row(after, k).reuses - (row(before, k).evictions + row(before, k).reuses),
      ).toBeGreaterThan(0);
      expect(after.summary.reads).toBeGreaterThan(before.summary.reads);
      expect(after.summary.sharedHitRatio).toBeGreaterThan(0);
      expect(after.summary.sharedHitRatio).toBeLessThan(1);
      expect(after.ioUnavailable).toBeNull();
    } else {
      expect(after).toMatchObject({ io: null, summary: null });
      expect(after.ioUnavailable).toBe(`pg_stat_io needs PostgreSQL 16 or later (this server is ${serverMajor()})`);
    }
    await admin`checkpoint`;
    const done = await waitFor(async () => {
      const body = await io();
      return body.checkpoints.requested > after.checkpoints.requested ? body : null;
    });
    expect(done.checkpoints.requested).toBe(after.checkpoints.requested + 1);
    expect(done.checkpoints.timed).toBe(after.checkpoints.timed);
    if (serverMajor() >= 14) expect(done.wal.bytes).toBeGreaterThan(30_000_000);
    else expect(done.wal).toBeNull();
    expect(done.databases.map((d: any) => d.name)).toContain('postgres');
  });

  it('shows the standby’s slot inactive and retaining WAL once the standby stops', async () => {
    await removeStandby(standby);
    standby = undefined;
    await onStandby.close();
    await write(1000);
    await admin`select pg_switch_wal()`;
    await write(10);
    const p = await replication(onPrimary);
    expect(p.standbys).toEqual([]);
    const slot = p.slots.find((s: any) => s.name === 'standby_slot');
    expect(slot.active).toBe(false);
    expect(slot.activePid).toBeNull();
    expect(slot.retainedBytes).toBeGreaterThan(0);
  });
});
