import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter, Gauge, Registry, RegistryContentType } from 'prom-client';
import { Env } from '../../config/env';
import { HistoryCollector } from '../../history/collector.service';
import { HistoryService } from '../../history/history.service';
import { LoadSampler } from '../../load/load.sampler';
import { ChecksRunner } from '../../checks/checks.runner';
import { TargetRegistry } from '../../targets/registry';
import { Target } from '../../targets/target';
import { summaryQuery } from '../activity/activity.sql';
import { checkpointsQuery, ioQuery, walQuery } from '../io/io.sql';
import { LoadHistory } from '../load/load.history';
import { receiverQuery, slotsQuery, standbysQuery } from '../replication/replication.sql';
import { SlowFiguresRegistry } from '../shared/sizes';
import { horizonQuery, stopMargins, WRAP_AGE } from '../vacuum/vacuum.sql';
import { databaseCountersQuery, indexCountsQuery, miscQuery, statementCountersQuery, tablesQuery } from './metrics.sql';
import { METRICS, MetricName } from './metrics.names';

type Labels = Record<string, string>;
type Value = number | null | undefined;

/** The samples of one scrape, per metric name, in the order they are added. */
class Page {
  readonly samples = new Map<MetricName, { labels: Labels; value: number }[]>();
  /** Series folded into an `other` series by this scrape. */
  readonly dropped = { statement: 0, table: 0 };

  put(name: MetricName, labels: Labels, value: Value): void {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    const list = this.samples.get(name) ?? [];
    list.push({ labels, value });
    this.samples.set(name, list);
  }
}

/** A family's last good values (a closure that puts them on a page), served while the next collection runs. */
interface Cached {
  at: number;
  put?: (page: Page) => void;
  inflight?: Promise<void>;
  failed: boolean;
}

const WAIT_CLASSES = ['Activity', 'BufferPin', 'Client', 'Extension', 'IO', 'IPC', 'Lock', 'LWLock', 'Timeout'];
const seconds = (ms: number | null) => (ms === null ? null : ms / 1000);

/**
 * GET /metrics: every target's figures in the Prometheus and OpenMetrics text formats, rendered by prom-client. A
 * target's figures are two families: `server` (one read-only transaction: connections, databases, statements,
 * replication, horizon, I/O) and `relations` (the largest tables, from the sizes the API already keeps), plus `load`
 * from the history store. Each is collected at most once per METRICS_TTL_MS whatever the number of scrapers; a
 * scrape waits only for a family's first collection, later it serves the last good values (their age in
 * pgscope_family_age_seconds). Per-statement and per-table series are bounded, the rest summed into `other`.
 */
@Injectable()
export class MetricsService {
  private readonly logger = new Logger('Metrics');
  private readonly cache = new Map<string, Cached>();

  constructor(
    @Inject(Env) private readonly env: Env,
    private readonly targets: TargetRegistry,
    private readonly slow: SlowFiguresRegistry,
    private readonly history: HistoryService,
    private readonly collector: HistoryCollector,
    private readonly sampler: LoadSampler,
    private readonly load: LoadHistory,
    private readonly checks: ChecksRunner,
  ) {}

  /** The target's configured labels, as Prometheus label names (invalid characters become _; ours win). */
  private labelsOf(target: Target): Labels {
    const out: Labels = { target: target.name };
    for (const [k, v] of Object.entries(target.config.labels ?? {})) {
      const name = k.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^([^a-zA-Z_])/, '_$1');
      if (!(name in out) && !name.startsWith('__')) out[name] = String(v);
    }
    return out;
  }

  async scrape(openMetrics: boolean): Promise<{ contentType: string; body: string }> {
    const targets = this.targets.list();
    const page = new Page();
    await Promise.all(targets.map((t) => this.target(t, page)));
    const { dropped } = page;
    for (const [kind, n] of Object.entries(dropped)) page.put('pgscope_series_dropped', { kind }, n);

    const registry = new Registry<RegistryContentType>();
    registry.setContentType(openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
    for (const [name, samples] of page.samples) {
      const [kind, help] = METRICS[name];
      const labelNames = [...new Set(samples.flatMap((s) => Object.keys(s.labels)))];
      const full = (l: Labels) => Object.fromEntries(labelNames.map((n) => [n, l[n] ?? '']));
      if (kind === 'counter') {
        const c = new Counter({ name, help, labelNames, registers: [registry] });
        for (const s of samples) c.inc(full(s.labels), Math.max(0, s.value));
      } else {
        const g = new Gauge({ name, help, labelNames, registers: [registry] });
        for (const s of samples) g.set(full(s.labels), s.value);
      }
    }
    const body = await registry.metrics();
    if (openMetrics) return { contentType: registry.contentType, body };
    const header =
      `# pgscope: ${targets.length} target(s); per-statement series limited to METRICS_TOP_STATEMENTS=` +
      `${this.env.METRICS_TOP_STATEMENTS} (${dropped.statement} folded into queryid="other"), per-table series to ` +
      `METRICS_TOP_RELATIONS=${this.env.METRICS_TOP_RELATIONS} (${dropped.table} folded into table="other")\n`;
    return { contentType: registry.contentType, body: header + body };
  }

  /** A family of a target: fresh values if they are, else the last good ones while a new collection runs. */
  private async family(
    target: Target,
    name: string,
    page: Page,
    labels: Labels,
    collect: () => Promise<(page: Page) => void>,
  ): Promise<boolean> {
    const key = `${target.name}\u0000${name}`;
    const entry = this.cache.get(key) ?? { at: 0, failed: false };
    this.cache.set(key, entry);
    if (Date.now() - entry.at >= this.env.METRICS_TTL_MS && !entry.inflight) {
      entry.inflight = collect()
        .then((put) => {
          entry.put = put;
          entry.failed = false;
        })
        .catch((err: unknown) => {
          entry.failed = true;
          this.logger.debug(`${target.name}/${name}: ${(err as Error).message}`);
        })
        .finally(() => {
          entry.at = Date.now();
          entry.inflight = undefined;
        });
    }
    if (entry.inflight && !entry.put) await entry.inflight;
    const family = { ...labels, family: name };
    if (entry.put) {
      entry.put(page);
      page.put('pgscope_family_age_seconds', family, (Date.now() - entry.at) / 1000);
    }
    page.put('pgscope_family_up', family, entry.failed || !entry.put ? 0 : 1);
    return !entry.failed && entry.put !== undefined;
  }

  private async target(target: Target, page: Page): Promise<void> {
    const labels = this.labelsOf(target);
    // One after the other: one connection of the target at a time, and no transaction of pgscope's own open
    // while the server family counts sessions by state.
    await this.server(target, page, labels);
    await this.relations(target, page, labels);
    if (this.history.storeIfOn && this.env.LOAD_SAMPLE_MS > 0) {
      await this.family(target, 'load', page, labels, async () => {
        const load = await this.load.load(target, { window: '1m', groupBy: 'waitEventType', limit: 20 });
        return (p) => {
          p.put(
            'pgscope_load_average_active_sessions',
            { ...labels, wait_event_type: 'all' },
            load.totals.activeSessions,
          );
          for (const g of load.totals.groups) {
            p.put(
              'pgscope_load_average_active_sessions',
              { ...labels, wait_event_type: g.key ?? 'unknown' },
              g.activeSessions,
            );
          }
        };
      });
    }
    const codes = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
    for (const s of this.checks.list()) {
      const r = s.reported;
      if (r.target !== target.name || r.status === 'disabled') continue;
      page.put('pgscope_check_status', { ...labels, check: r.id, database: r.database ?? '' }, codes[r.status]);
    }
    // The collectors' own state for this target: the history collector's and the load sampler's.
    for (const s of this.collector.now?.list() ?? []) {
      if (s.target !== target.name) continue;
      const l = { ...labels, family: s.family, database: s.database ?? '' };
      page.put('pgscope_collector_collections_total', l, s.collections);
      page.put('pgscope_collector_skips_total', l, s.skips);
      page.put('pgscope_collector_last_duration_seconds', l, seconds(s.lastDurationMs));
      page.put('pgscope_collector_failing', l, s.failing ? 1 : 0);
    }
    for (const s of this.sampler.list()) {
      if (s.target !== target.name) continue;
      page.put('pgscope_load_samples_total', labels, s.samples);
      page.put('pgscope_load_sample_skips_total', labels, s.skips);
      page.put('pgscope_load_sample_failures_total', labels, s.failures);
    }
  }

  /** Everything but the relations, in one read-only transaction of the target's default database. */
  private async server(target: Target, page: Page, labels: Labels): Promise<void> {
    const up = await this.family(target, 'server', page, labels, async () => {
      const db = await this.targets.resolve(target.name, undefined);
      const limit = this.env.METRICS_TOP_STATEMENTS;
      const r = await db.read('metrics', async (ctx) => {
        const { sql, info } = ctx;
        const [misc] = await miscQuery(sql);
        const ext = info.pgStatStatementsPreloaded ? await ctx.extension('pg_stat_statements') : undefined;
        return {
          info,
          misc,
          summary: (await summaryQuery(sql, info.major))[0],
          databases: await databaseCountersQuery(sql),
          statements: ext ? await statementCountersQuery(sql, ext.schema, limit) : null,
          standbys: misc.inRecovery ? [] : await standbysQuery(sql),
          receiver: misc.inRecovery ? (await receiverQuery(sql, info.major))[0] : undefined,
          slots: await slotsQuery(sql, info.major),
          holders: await horizonQuery(sql, info.major),
          io: info.major >= 16 ? await ioQuery(sql, info.major) : [],
          checkpoints: (await checkpointsQuery(sql, info.major))[0],
          wal: info.major >= 14 ? (await walQuery(sql, info.major))[0] : undefined,
        };
      });
      return (p) => {
        const { info, misc, summary: s } = r;
        p.put(
          'pgscope_server_info',
          { ...labels, version: info.version.split(' ')[1] ?? '', major: String(info.major) },
          1,
        );
        p.put('pgscope_server_uptime_seconds', labels, misc.uptime);
        p.put('pgscope_in_recovery', labels, misc.inRecovery ? 1 : 0);
        p.put('pgscope_connections_max', labels, s.maxConnections);
        p.put('pgscope_connections_reserved', labels, s.reservedConnections);
        p.put('pgscope_client_connections', labels, s.totalConnections);
        const usable = s.maxConnections - s.reservedConnections;
        p.put('pgscope_connections_utilization_ratio', labels, usable > 0 ? s.totalConnections / usable : null);
        for (const st of s.byState) p.put('pgscope_connections', { ...labels, state: st.state ?? 'unknown' }, st.count);
        const waits = new Map(s.byWaitEventType.map((w) => [w.waitEventType ?? 'unknown', w.count]));
        for (const w of new Set([...WAIT_CLASSES, ...waits.keys()])) {
          p.put('pgscope_connections_waiting', { ...labels, wait_event_type: w }, waits.get(w) ?? 0);
        }
        p.put('pgscope_sessions_blocked', labels, s.blockedSessions);

        const margins = stopMargins(info.major);
        for (const d of r.databases) {
          const l = { ...labels, database: d.database };
          p.put('pgscope_database_transactions_total', { ...l, outcome: 'commit' }, Number(d.commits));
          p.put('pgscope_database_transactions_total', { ...l, outcome: 'rollback' }, Number(d.rollbacks));
          p.put('pgscope_database_blocks_hit_total', l, Number(d.blksHit));
          p.put('pgscope_database_blocks_read_total', l, Number(d.blksRead));
          const total = Number(d.blksHit) + Number(d.blksRead);
          p.put('pgscope_database_cache_hit_ratio', l, total > 0 ? Number(d.blksHit) / total : null);
          for (const [op, v] of [
            ['returned', d.tupReturned],
            ['fetched', d.tupFetched],
            ['inserted', d.tupInserted],
            ['updated', d.tupUpdated],
            ['deleted', d.tupDeleted],
          ] as const) {
            p.put('pgscope_database_tuples_total', { ...l, operation: op }, Number(v));
          }
          p.put('pgscope_database_temp_files_total', l, Number(d.tempFiles));
          p.put('pgscope_database_temp_bytes_total', l, Number(d.tempBytes));
          p.put('pgscope_database_deadlocks_total', l, Number(d.deadlocks));
          p.put('pgscope_database_conflicts_total', l, d.conflicts === null ? null : Number(d.conflicts));
          p.put(
            'pgscope_database_checksum_failures_total',
            l,
            d.checksumFailures === null ? null : Number(d.checksumFailures),
          );
          p.put('pgscope_database_xid_age', l, Number(d.xidAge));
          p.put('pgscope_database_xid_wraparound_ratio', l, Number(d.xidAge) / (WRAP_AGE - margins.xid));
          p.put('pgscope_database_mxid_wraparound_ratio', l, Number(d.mxidAge) / (WRAP_AGE - margins.mxid));
        }

        if (r.statements) {
          const top = r.statements.filter((x): x is typeof x & { queryid: string } => x.queryid !== null);
          const whole = r.statements.find((x) => x.queryid === null)!;
          for (const x of top) {
            p.put('pgscope_statement_calls_total', { ...labels, queryid: x.queryid }, Number(x.calls));
            p.put('pgscope_statement_exec_seconds_total', { ...labels, queryid: x.queryid }, Number(x.execMs) / 1000);
          }
          const folded = Number(whole.entries) - top.length;
          if (folded > 0) {
            const calls = Number(whole.calls) - top.reduce((a, x) => a + Number(x.calls), 0);
            const exec = Number(whole.execMs) - top.reduce((a, x) => a + Number(x.execMs), 0);
            p.put('pgscope_statement_calls_total', { ...labels, queryid: 'other' }, calls);
            p.put('pgscope_statement_exec_seconds_total', { ...labels, queryid: 'other' }, exec / 1000);
          }
          p.put('pgscope_statements_tracked', labels, Number(whole.entries));
          p.dropped.statement += Math.max(0, folded);
        }

        for (const x of r.standbys) {
          const l = { ...labels, application_name: x.applicationName ?? '' };
          p.put('pgscope_replication_lag_bytes', l, x.replayLagBytes === null ? null : Number(x.replayLagBytes));
          p.put('pgscope_replication_replay_lag_seconds', l, seconds(x.replayLagMs));
          p.put('pgscope_replication_flush_lag_seconds', l, seconds(x.flushLagMs));
        }
        if (r.receiver) {
          const lag = r.receiver.lagBytes === null ? null : Number(r.receiver.lagBytes);
          p.put('pgscope_standby_replay_lag_bytes', labels, lag);
          p.put('pgscope_standby_replay_delay_seconds', labels, lag === 0 ? 0 : seconds(r.receiver.sinceLastReplayMs));
        }
        for (const x of r.slots) {
          const l = { ...labels, slot: x.name, slot_type: x.type };
          p.put(
            'pgscope_replication_slot_retained_bytes',
            l,
            x.retainedBytes === null ? null : Number(x.retainedBytes),
          );
          p.put('pgscope_replication_slot_active', l, x.active ? 1 : 0);
        }
        p.put('pgscope_archiver_archived_total', labels, Number(misc.archived));
        p.put('pgscope_archiver_failed_total', labels, Number(misc.failed));
        const failing =
          misc.lastFailed !== null &&
          (misc.lastArchived === null || misc.lastFailed.getTime() > misc.lastArchived.getTime());
        p.put('pgscope_archiver_failing', labels, failing ? 1 : 0);
        const oldest = r.holders[0];
        p.put(
          'pgscope_xmin_horizon_age',
          labels,
          oldest
            ? Math.max(Number(oldest.xminAge ?? 0), Number(oldest.xidAge ?? 0), Number(oldest.catalogXminAge ?? 0))
            : 0,
        );

        const c = r.checkpoints;
        p.put('pgscope_checkpoints_total', { ...labels, kind: 'timed' }, Number(c.timed));
        p.put('pgscope_checkpoints_total', { ...labels, kind: 'requested' }, Number(c.requested));
        p.put('pgscope_checkpoint_write_seconds_total', labels, Number(c.writeTimeMs) / 1000);
        p.put('pgscope_checkpoint_sync_seconds_total', labels, Number(c.syncTimeMs) / 1000);
        p.put('pgscope_checkpoint_buffers_written_total', labels, Number(c.buffersWritten));
        p.put('pgscope_bgwriter_buffers_clean_total', labels, Number(c.buffersClean));
        p.put('pgscope_bgwriter_maxwritten_clean_total', labels, Number(c.maxwrittenClean));
        p.put('pgscope_buffers_alloc_total', labels, Number(c.buffersAlloc));
        if (r.wal) {
          p.put('pgscope_wal_records_total', labels, Number(r.wal.records));
          p.put('pgscope_wal_fpi_total', labels, Number(r.wal.fullPageImages));
          p.put('pgscope_wal_bytes_total', labels, Number(r.wal.bytes));
          p.put('pgscope_wal_buffers_full_total', labels, Number(r.wal.buffersFull));
        }
        for (const x of r.io) {
          const l = { ...labels, backend_type: x.backendType, object: x.object, context: x.context };
          for (const [op, v] of [
            ['read', x.reads],
            ['write', x.writes],
            ['extend', x.extends],
            ['writeback', x.writebacks],
            ['hit', x.hits],
            ['eviction', x.evictions],
            ['reuse', x.reuses],
            ['fsync', x.fsyncs],
          ] as const) {
            p.put('pgscope_io_operations_total', { ...l, op }, v === null ? null : Number(v));
          }
        }
      };
    });
    page.put('pgscope_up', labels, up ? 1 : 0);
  }

  /** The largest tables of the default database (by the sizes the API keeps), the rest in table="other". */
  private async relations(target: Target, page: Page, labels: Labels): Promise<void> {
    await this.family(target, 'relations', page, labels, async () => {
      const db = await this.targets.resolve(target.name, undefined);
      const sizes = await this.slow.sizes(db);
      const tables = [...sizes.value.sizes.values()].filter((s) => s.kind === 'table' && s.totalBytes !== null);
      tables.sort((a, b) => Number(b.totalBytes) - Number(a.totalBytes) || Number(a.oid) - Number(b.oid));
      const top = tables.slice(0, this.env.METRICS_TOP_RELATIONS);
      const rest = tables.slice(this.env.METRICS_TOP_RELATIONS);
      const r = await db.read('metrics-relations', async ({ sql, info }) => ({
        names: await tablesQuery(
          sql,
          top.map((t) => Number(t.oid)),
        ),
        counts: (await indexCountsQuery(sql))[0],
        database: info.currentDatabase,
      }));
      const byOid = new Map(r.names.map((n) => [Number(n.oid), n]));
      return (p) => {
        const l = { ...labels, database: r.database };
        for (const t of top) {
          const n = byOid.get(Number(t.oid));
          if (!n) continue;
          const tl = { ...l, schema: n.schema, table: n.table };
          p.put('pgscope_table_size_bytes', tl, Number(t.totalBytes));
          p.put('pgscope_table_dead_tuples', tl, n.deadTuples === null ? null : Number(n.deadTuples));
        }
        if (rest.length > 0) {
          const bytes = rest.reduce((a, t) => a + Number(t.totalBytes), 0);
          p.put('pgscope_table_size_bytes', { ...l, schema: 'other', table: 'other' }, bytes);
        }
        p.dropped.table += rest.length;
        p.put('pgscope_tables', l, Number(r.counts.tables));
        p.put('pgscope_indexes', l, Number(r.counts.indexes));
        p.put('pgscope_indexes_invalid', l, Number(r.counts.invalid));
        p.put('pgscope_indexes_unused', l, Number(r.counts.unused));
      };
    });
  }
}
