import { Injectable } from '@nestjs/common';
import { HistoryService } from '../history/history.service';
import { summaryQuery } from '../monitoring/activity/activity.sql';
import { CacheHistory } from '../monitoring/cache/cache.history';
import { ReplicationService } from '../monitoring/replication/replication.service';
import { VacuumService } from '../monitoring/vacuum/vacuum.service';
import { TargetRegistry } from '../targets/registry';
import { Target } from '../targets/target';
import { CheckDefinition, CHECKS, CheckSetting } from './checks.config';

export type CheckStatus = 'ok' | 'warning' | 'critical' | 'unknown' | 'disabled';

export interface Evidence {
  kind: string;
  name: string;
  value: number | string | null;
}

export interface CheckResult {
  id: string;
  target: string;
  database: string | null;
  status: CheckStatus;
  value: number | null;
  unit: string;
  warning: number | null;
  critical: number | null;
  evidence: Evidence[];
  hint: string | null;
  reason: string | null;
}

/** What one evaluation of a target needs, read once. */
interface Facts {
  vacuum: Awaited<ReturnType<VacuumService['getVacuum']>>;
  replication: Awaited<ReturnType<ReplicationService['getReplication']>>;
  summary: Awaited<ReturnType<typeof summaryQuery>>[0];
  sessions: {
    pid: number;
    user: string | null;
    application: string | null;
    idleS: number | null;
    queryS: number | null;
  }[];
  statements: { entries: number; max: number; dealloc: number | null } | null;
  invalid: { name: string }[];
  pending: { name: string; setting: string }[];
  databases: { name: string; checksumFailures: number | null; statsReset: Date | null; startedAt: Date }[];
  cacheRatio: number | null | undefined;
}

/** The verdict of a value against warning and critical, in the check's direction. */
export function verdict(def: CheckDefinition, s: CheckSetting, value: number | null): CheckStatus {
  if (value === null) return 'unknown';
  const over = (t: number | null) => t !== null && (def.direction === 'above' ? value >= t : value < t);
  return over(s.critical) ? 'critical' : over(s.warning) ? 'warning' : 'ok';
}

/**
 * Evaluates every check of a target from one read of each family it needs (maintenance, replication, activity,
 * statements, catalog) and, for cache_hit_ratio, the last hour of history. A check whose figure cannot be read is
 * `unknown` with the reason (a missing privilege, an extension, history off), never a guess.
 */
@Injectable()
export class ChecksEvaluator {
  constructor(
    private readonly targets: TargetRegistry,
    private readonly vacuum: VacuumService,
    private readonly replication: ReplicationService,
    private readonly history: HistoryService,
    private readonly cache: CacheHistory,
  ) {}

  private async facts(target: Target): Promise<Facts> {
    const db = await this.targets.resolve(target.name, undefined);
    const vacuum = await this.vacuum.getVacuum(db, { limit: 20 });
    const replication = await this.replication.getReplication(db);
    const rest = await db.read('checks', async (ctx) => {
      const { sql, info } = ctx;
      const [summary] = await summaryQuery(sql, info.major);
      const sessions = await sql<Facts['sessions']>`
        select /* pgscope */ pid, usename::text as "user", application_name as application,
               case when state like 'idle in transaction%'
                    then extract(epoch from clock_timestamp() - state_change)::float8 end as "idleS",
               case when state = 'active' then extract(epoch from clock_timestamp() - query_start)::float8 end as "queryS"
          from pg_catalog.pg_stat_activity
         where backend_type = 'client backend' and pid <> pg_catalog.pg_backend_pid()
           and (state like 'idle in transaction%' or state = 'active')
         order by greatest(coalesce(clock_timestamp() - state_change, '0'), coalesce(clock_timestamp() - query_start, '0')) desc
         limit 20`;
      const ext = info.pgStatStatementsPreloaded ? await ctx.extension('pg_stat_statements') : undefined;
      const statements = ext
        ? (
            await sql<{ entries: number; max: number; dealloc: number | null }[]>`
              select /* pgscope */ (select count(*) from ${sql(ext.schema)}.pg_stat_statements(false))::int8 as entries,
                     current_setting('pg_stat_statements.max')::int8 as max,
                     ${info.major >= 14 ? sql`(select dealloc from ${sql(ext.schema)}.pg_stat_statements_info)::int8` : sql`null::int8`} as dealloc`
          )[0]
        : null;
      const invalid = await sql<{ name: string }[]>`
        select /* pgscope */ n.nspname || '.' || c.relname as name
          from pg_catalog.pg_index i join pg_catalog.pg_class c on c.oid = i.indexrelid
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where not i.indisvalid order by 1 limit 100`;
      const pending = await sql<{ name: string; setting: string }[]>`
        select /* pgscope */ name, setting from pg_catalog.pg_settings where pending_restart order by name limit 100`;
      const databases = await sql<Facts['databases']>`
        select /* pgscope */ datname as name, checksum_failures::int8 as "checksumFailures", stats_reset as "statsReset",
               pg_catalog.pg_postmaster_start_time() as "startedAt"
          from pg_catalog.pg_stat_database where datname = current_database()`;
      return { summary, sessions, statements, invalid, pending, databases };
    });
    let cacheRatio: number | null | undefined;
    if (this.history.storeIfOn) {
      const now = new Date();
      const res = await this.cache
        .get(target, { limit: 1 }, { from: new Date(now.getTime() - 3_600_000), to: now })
        .catch(() => undefined);
      cacheRatio = res ? res.database.hitRatio : undefined;
    }
    return { vacuum, replication, ...rest, cacheRatio };
  }

  async evaluate(target: Target, settings: Record<string, CheckSetting>): Promise<CheckResult[]> {
    const f = await this.facts(target);
    const out: CheckResult[] = [];
    const db = f.vacuum.database;
    const add = (
      id: string,
      database: string | null,
      value: number | null,
      evidence: Evidence[],
      hint: string | null,
      reason: string | null = null,
    ) => {
      const def = CHECKS.find((c) => c.id === id)!;
      const s = settings[id];
      const status: CheckStatus = !s.enabled ? 'disabled' : verdict(def, s, value);
      out.push({
        id,
        target: target.name,
        database,
        status,
        value,
        unit: def.unit,
        warning: s.warning,
        critical: s.critical,
        evidence,
        hint: status === 'ok' || status === 'disabled' ? null : hint,
        reason: status === 'unknown' ? reason : null,
      });
    };
    const pct = (v: number) => Math.round(v * 1e6) / 1e4;
    // Age over the hard limit (age + what is left), in %, unrounded where it matters: a young server is 1e-5 %.
    const share = (age: number, left: number) =>
      age + left > 0 ? Math.round((age / (age + left)) * 1e11) / 1e9 : null;

    for (const d of f.vacuum.databases) {
      add(
        'xid_wraparound',
        d.name,
        share(d.xid.age, d.xid.left),
        [{ kind: 'database', name: d.name, value: d.xid.age }],
        `VACUUM (FREEZE, VERBOSE) the oldest tables of database ${d.name}; first release what holds the xmin horizon`,
      );
      add(
        'mxid_wraparound',
        d.name,
        share(d.multixact.age, d.multixact.left),
        [{ kind: 'database', name: d.name, value: d.multixact.age }],
        `VACUUM (FREEZE) the tables of database ${d.name} with the oldest relminmxid`,
      );
    }
    const worst = f.vacuum.horizon.holders[0];
    add(
      'xmin_horizon',
      null,
      f.vacuum.horizon.oldestAge,
      worst ? [{ kind: worst.kind, name: worst.name ?? String(worst.pid ?? ''), value: worst.age }] : [],
      worst?.hint ?? null,
    );

    const idle = f.sessions.filter((s) => s.idleS !== null).sort((a, b) => (b.idleS ?? 0) - (a.idleS ?? 0));
    add(
      'idle_in_transaction',
      null,
      idle.length ? Math.round(idle[0].idleS! * 10) / 10 : 0,
      idle.slice(0, 5).map((s) => ({
        kind: 'session',
        name: `${s.pid} (${s.application ?? s.user ?? ''})`,
        value: Math.round(s.idleS!),
      })),
      idle.length ? `SELECT pg_terminate_backend(${idle[0].pid}); and set idle_in_transaction_session_timeout` : null,
    );
    const running = f.sessions.filter((s) => s.queryS !== null).sort((a, b) => (b.queryS ?? 0) - (a.queryS ?? 0));
    add(
      'long_query',
      null,
      running.length ? Math.round(running[0].queryS! * 10) / 10 : 0,
      running.slice(0, 5).map((s) => ({
        kind: 'session',
        name: `${s.pid} (${s.application ?? s.user ?? ''})`,
        value: Math.round(s.queryS!),
      })),
      running.length ? `SELECT pg_cancel_backend(${running[0].pid}); and set statement_timeout` : null,
    );
    const usable = f.summary.maxConnections - f.summary.reservedConnections;
    add(
      'connections',
      null,
      usable > 0 ? pct(f.summary.totalConnections / usable) : null,
      [{ kind: 'server', name: 'client connections', value: f.summary.totalConnections }],
      'Put a pooler (PgBouncer) in front, or find the sessions that are idle; raising max_connections costs memory',
    );

    const r = f.replication;
    if (r.role === 'primary') {
      const lagging = [...r.standbys].sort((a, b) => (b.replayLagBytes ?? 0) - (a.replayLagBytes ?? 0));
      add(
        'replication_lag_bytes',
        null,
        lagging.length ? (lagging[0].replayLagBytes ?? 0) : 0,
        lagging.map((s) => ({ kind: 'standby', name: s.applicationName ?? String(s.pid), value: s.replayLagBytes })),
        'Look at the standby: its disk, its replay (pg_wal_replay_pause?), its network',
      );
      const slow = [...r.standbys].sort((a, b) => (b.replayLagMs ?? 0) - (a.replayLagMs ?? 0));
      add(
        'replication_lag_time',
        null,
        slow.length ? (slow[0].replayLagMs ?? 0) / 1000 : 0,
        slow.map((s) => ({ kind: 'standby', name: s.applicationName ?? String(s.pid), value: s.replayLagMs })),
        'Look at the standby: long queries conflicting with replay, its I/O',
      );
    } else {
      const rc = r.receiver;
      add('replication_lag_bytes', null, rc?.lagBytes ?? null, [], 'This standby replays slower than it receives');
      add(
        'replication_lag_time',
        null,
        rc?.replayDelayMs === null || rc === null ? null : rc.replayDelayMs / 1000,
        [],
        'This standby replays slower than it receives',
        'nothing replayed yet',
      );
    }
    const inactive = r.slots.filter((s) => !s.active);
    const lost = r.slots.filter((s) => s.walStatus === 'lost' || s.walStatus === 'unreserved');
    const retained = inactive.length ? Math.max(...inactive.map((s) => s.retainedBytes ?? 0)) : 0;
    add(
      'slot_retained_wal',
      null,
      retained,
      inactive.map((s) => ({ kind: 'replication_slot', name: s.name, value: s.retainedBytes })),
      inactive.length
        ? `SELECT pg_drop_replication_slot('${inactive[0].name.replace(/'/g, "''")}'); if its consumer is gone`
        : null,
    );
    if (lost.length && settings.slot_retained_wal.enabled) {
      const last = out[out.length - 1];
      last.status = 'critical';
      last.evidence = lost.map((s) => ({ kind: 'replication_slot', name: s.name, value: s.walStatus }));
      last.hint = `Slot ${lost[0].name} has wal_status ${lost[0].walStatus}: its consumer must resync; drop it`;
    }
    if (r.archiver.archiveMode === 'off') {
      add('archiver_failing', null, 0, [], null);
    } else {
      add(
        'archiver_failing',
        null,
        r.archiver.failing ? 1 : 0,
        r.archiver.lastFailedWal
          ? [{ kind: 'wal', name: r.archiver.lastFailedWal, value: r.archiver.lastFailedTime }]
          : [],
        'Fix archive_command (see the server log for its error): pg_wal keeps growing meanwhile',
      );
    }

    const seq = f.vacuum.sequences.find((s) => s.share !== null);
    add(
      'sequence_exhaustion',
      db,
      seq ? pct(seq.share!) : 0,
      f.vacuum.sequences
        .filter((s) => s.share !== null)
        .slice(0, 5)
        .map((s) => ({ kind: 'sequence', name: `${s.schema}.${s.name}`, value: s.share })),
      seq
        ? `ALTER SEQUENCE ${seq.schema}.${seq.name} AS bigint (and the column it feeds: ALTER TABLE … TYPE bigint)`
        : null,
    );
    if (f.statements) {
      add(
        'statements_capacity',
        null,
        pct(f.statements.entries / f.statements.max),
        [{ kind: 'setting', name: 'pg_stat_statements.max', value: f.statements.max }],
        'Raise pg_stat_statements.max (restart), or find the statements that differ only by literals in IN lists',
      );
    } else {
      add('statements_capacity', null, null, [], null, 'pg_stat_statements is not preloaded or not created');
    }
    add(
      'invalid_indexes',
      db,
      f.invalid.length,
      f.invalid.map((i) => ({ kind: 'index', name: i.name, value: null })),
      f.invalid.length ? `REINDEX INDEX CONCURRENTLY ${f.invalid[0].name}; (or DROP INDEX CONCURRENTLY it)` : null,
    );
    const overdue = f.vacuum.tables.filter((t) => t.autovacuumDue !== 'none');
    add(
      'autovacuum_overdue',
      db,
      overdue.length ? overdue[0].urgency : 0,
      overdue.slice(0, 5).map((t) => ({ kind: 'table', name: `${t.schema}.${t.table}`, value: t.urgency })),
      overdue.length
        ? `VACUUM (VERBOSE, ANALYZE) ${overdue[0].schema}.${overdue[0].table}; then see why autovacuum lags (cost limits, workers, the horizon)`
        : null,
    );
    add(
      'pending_restart',
      null,
      f.pending.length,
      f.pending.map((p) => ({ kind: 'setting', name: p.name, value: p.setting })),
      'Restart the server to apply them (or ALTER SYSTEM RESET them)',
    );
    for (const d of f.databases) {
      if (d.checksumFailures === null) {
        add(
          'checksum_failures',
          d.name,
          null,
          [],
          null,
          'data checksums are off (initdb --data-checksums, or pg_checksums)',
        );
      } else {
        add(
          'checksum_failures',
          d.name,
          Number(d.checksumFailures),
          [],
          'Check the disk and the server log; restore the damaged relation from a backup',
        );
      }
      const since = (d.statsReset ?? d.startedAt).getTime();
      add(
        'stats_age',
        d.name,
        Math.round(((Date.now() - since) / 3_600_000) * 100) / 100,
        [],
        'Judge unused indexes only after a full business cycle of statistics (a week at least)',
      );
    }
    if (f.cacheRatio === undefined) {
      add(
        'cache_hit_ratio',
        db,
        null,
        [],
        null,
        this.history.storeIfOn ? 'no history of the last hour yet' : 'history is off (HISTORY=off)',
      );
    } else {
      add(
        'cache_hit_ratio',
        db,
        f.cacheRatio === null ? null : pct(f.cacheRatio),
        [],
        'The working set does not fit in shared_buffers: raise it, or find the statements that read the most blocks',
        'no block traffic in the last hour',
      );
    }
    return out;
  }
}
