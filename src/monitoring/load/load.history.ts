import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { MAX_INTERVAL_CADENCES } from '../../history/deltas';
import { HistoryService } from '../../history/history.service';
import { HistoryStore, StoreSql } from '../../history/store';
import { spanMs, Window, WindowMetaDto, WindowParams } from '../../history/window';
import { Target } from '../../targets/target';
import { buckets, stepMs } from '../history/history.series';
import { MetaDto } from '../shared/meta.dto';
import {
  LOAD_DEFAULTS,
  LoadDimension,
  LoadQueryDto,
  LoadResponseDto,
  LoadTopQueryDto,
  LoadTopResponseDto,
  LocksQueryDto,
  LocksResponseDto,
} from './load.dto';

/** Each dimension as an expression of load_buckets (fixed strings: never a client's). */
const KEY: Record<LoadDimension, string> = {
  waitEventType: 'wait_type',
  waitEvent: "case when wait_type = 'CPU' then 'CPU' else wait_type || ':' || wait_event end",
  queryId: 'coalesce(queryid::text, query)',
  database: 'datname',
  user: 'usename',
  application: 'application',
};

const round = (v: number) => Math.round(v * 1000) / 1000;

/**
 * The load of the history store: average active sessions per bucket and group, the top contributors and the lock
 * chains of a window. Every average is the sessions counted over the samples taken, so a bucket half sampled is not
 * half the load; a bucket not sampled at all has no average (null) and lies in a gap.
 */
@Injectable()
export class LoadHistory {
  constructor(
    private readonly history: HistoryService,
    @Inject(Env) private readonly env: Env,
  ) {}

  private get bucketMs(): number {
    return this.env.LOAD_BUCKET_SECONDS * 1000;
  }

  private window(query: WindowParams, fallback: string): Window {
    const given = this.history.window(query);
    if (given) return given;
    void this.history.store;
    const now = new Date();
    return { from: new Date(now.getTime() - (spanMs(fallback) as number)), to: now };
  }

  /** The buckets a window reads: those that start in [from rounded down to a bucket, to). */
  private span(window: Window): { lo: Date; hi: Date } {
    return {
      lo: new Date(Math.floor(window.from.getTime() / this.bucketMs) * this.bucketMs),
      hi: window.to,
    };
  }

  async load(target: Target, query: LoadQueryDto): Promise<LoadResponseDto> {
    const started = performance.now();
    const window = this.window(query, '1h');
    const store = this.history.store;
    const step = stepMs(query.step, window, this.bucketMs, 'LOAD_BUCKET_SECONDS');
    const groupBy = query.groupBy ?? LOAD_DEFAULTS.groupBy;
    const limit = query.limit ?? LOAD_DEFAULTS.limit;
    const targetId = await store.targetId(target.name);
    const { lo, hi } = this.span(window);
    const stepS = step / 1000;
    const { ticks, rows, coverage } = await store.read(async (sql) => {
      const bucket = sql`to_timestamp(floor(extract(epoch from at) / ${stepS}) * ${stepS})`;
      const ticks = await sql<{ b: Date; samples: number }[]>`
        select ${bucket} as b, sum(samples)::int8 as samples from load_ticks
         where target_id = ${targetId} and at >= ${lo} and at < ${hi} group by 1`;
      const rows = await sql<{ b: Date; kind: string; key: string | null; sessions: number }[]>`
        select ${bucket} as b, kind::text as kind, ${sql.unsafe(KEY[groupBy])} as key, sum(sessions)::int8 as sessions
          from load_buckets
         where target_id = ${targetId} and at >= ${lo} and at < ${hi}
         group by 1, 2, 3`;
      return { ticks, rows, coverage: await this.coverage(sql, targetId, window) };
    });
    const samplesAt = new Map(ticks.map((t) => [t.b.getTime(), Number(t.samples)]));
    const totalSamples = [...samplesAt.values()].reduce((a, b) => a + b, 0);
    const active = rows.filter((r) => r.kind === 'c' || r.kind === 'p');
    const byKey = new Map<string | null, number>();
    for (const r of active) byKey.set(r.key, (byKey.get(r.key) ?? 0) + Number(r.sessions));
    const top = [...byKey.entries()]
      .sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))
      .slice(0, limit)
      .map(([k]) => k);
    const topSet = new Set(top);
    const sum = (list: { sessions: number }[]) => list.reduce((a, r) => a + Number(r.sessions), 0);
    const avg = (sessions: number, samples: number) => (samples > 0 ? round(sessions / samples) : null);
    const points = buckets(window, step).map((b) => {
      const samples = samplesAt.get(b) ?? 0;
      const mine = rows.filter((r) => r.b.getTime() === b);
      const mineActive = mine.filter((r) => r.kind === 'c' || r.kind === 'p');
      return {
        at: new Date(b).toISOString(),
        samples,
        activeSessions: avg(sum(mineActive), samples),
        groups: top.map((key) => ({
          key,
          activeSessions: avg(sum(mineActive.filter((r) => r.key === key)), samples) ?? 0,
        })),
        otherActiveSessions: avg(sum(mineActive.filter((r) => !topSet.has(r.key))), samples),
        parallelWorkers: avg(sum(mine.filter((r) => r.kind === 'p')), samples),
        autovacuumWorkers: avg(sum(mine.filter((r) => r.kind === 'v')), samples),
        idleInTransactionSessions: avg(sum(mine.filter((r) => r.kind === 'i')), samples),
      };
    });
    const whole = (v: number) => avg(v, totalSamples) ?? 0;
    return {
      meta: this.meta(target, coverage.meta, started),
      groupBy,
      stepSeconds: stepS,
      maxConnections: coverage.maxConnections,
      cpuCount: target.cpuCount,
      totals: {
        activeSessions: whole(sum(active)),
        groups: top.map((key) => ({ key, activeSessions: whole(byKey.get(key) ?? 0) })),
        otherActiveSessions: whole(sum(active.filter((r) => !topSet.has(r.key)))),
        autovacuumWorkers: whole(sum(rows.filter((r) => r.kind === 'v'))),
        idleInTransactionSessions: whole(sum(rows.filter((r) => r.kind === 'i'))),
        samples: totalSamples,
      },
      points,
    };
  }

  async top(target: Target, query: LoadTopQueryDto): Promise<LoadTopResponseDto> {
    const started = performance.now();
    const window = this.window(query, '15m');
    const store = this.history.store;
    const by = query.by ?? 'queryId';
    const limit = query.limit ?? 10;
    const targetId = await store.targetId(target.name);
    const { lo, hi } = this.span(window);
    const result = await store.read(async (sql) => {
      const [{ samples }] = await sql<{ samples: number }[]>`
        select coalesce(sum(samples), 0)::int8 as samples from load_ticks
         where target_id = ${targetId} and at >= ${lo} and at < ${hi}`;
      const rows = await sql<{ key: string | null; wait: string; sessions: number; query: string | null }[]>`
        select ${sql.unsafe(KEY[by])} as key,
               case when wait_type = 'CPU' then 'CPU' else wait_type || ':' || wait_event end as wait,
               sum(sessions)::int8 as sessions, max(query) as query
          from load_buckets
         where target_id = ${targetId} and at >= ${lo} and at < ${hi} and kind in ('c', 'p')
         group by 1, 2`;
      return { samples: Number(samples), rows, coverage: await this.coverage(sql, targetId, window) };
    });
    const byKey = new Map<string | null, { sessions: number; waits: Map<string, number>; query: string | null }>();
    for (const r of result.rows) {
      const k = byKey.get(r.key) ?? { sessions: 0, waits: new Map(), query: r.query };
      k.sessions += Number(r.sessions);
      k.waits.set(r.wait, (k.waits.get(r.wait) ?? 0) + Number(r.sessions));
      byKey.set(r.key, k);
    }
    const total = [...byKey.values()].reduce((a, k) => a + k.sessions, 0);
    const ranked = [...byKey.entries()].sort((a, b) => b[1].sessions - a[1].sessions).slice(0, limit);
    const statements =
      by === 'queryId'
        ? await this.statementFigures(
            store,
            targetId,
            window,
            ranked.map(([k]) => k).filter((k): k is string => k !== null && /^-?\d+$/.test(k)),
          )
        : new Map<string, { calls: number | null; exec: number | null; query: string | null }>();
    return {
      meta: this.meta(target, result.coverage.meta, started),
      by,
      activeSessions: result.samples > 0 ? round(total / result.samples) : 0,
      contributors: ranked.map(([key, k]) => {
        const figures = key !== null ? statements.get(key) : undefined;
        return {
          key,
          query: by === 'queryId' ? (figures?.query ?? k.query) : null,
          activeSessions: result.samples > 0 ? round(k.sessions / result.samples) : 0,
          share: total > 0 ? round(k.sessions / total) : 0,
          waits: [...k.waits.entries()]
            .sort((a, b) => b[1] - a[1])
            .slice(0, 5)
            .map(([waitEvent, n]) => ({ waitEvent, share: round(n / k.sessions) })),
          calls: by === 'queryId' ? (figures?.calls ?? null) : null,
          totalExecTimeMs: by === 'queryId' ? (figures?.exec ?? null) : null,
        };
      }),
    };
  }

  async locks(target: Target, query: LocksQueryDto): Promise<LocksResponseDto> {
    const started = performance.now();
    const window = this.window(query, '1h');
    const store = this.history.store;
    const targetId = await store.targetId(target.name);
    const { lo, hi } = this.span(window);
    const { chains, coverage } = await store.read(async (sql) => ({
      chains: await sql<
        {
          rootPid: number;
          began: Date;
          ended: Date;
          user: string | null;
          application: string | null;
          state: string | null;
          queryId: string | null;
          query: string | null;
          transactionStart: Date | null;
          maxWaiting: number;
          longestWaitMs: number | null;
          holds: string | null;
        }[]
      >`
        select root_pid as "rootPid", min(first_seen) as began, max(last_seen) as ended,
               (array_agg(usename order by at desc))[1] as "user",
               (array_agg(application order by at desc))[1] as application,
               (array_agg(state order by at desc))[1] as state,
               (array_agg(queryid::text order by at desc))[1] as "queryId",
               (array_agg(query order by at desc))[1] as query,
               xact_start as "transactionStart", max(waiting)::int as "maxWaiting",
               max(longest_wait_ms) as "longestWaitMs",
               (array_agg(holds order by at desc) filter (where holds is not null))[1] as holds
          from lock_chains
         where target_id = ${targetId} and at >= ${lo} and at < ${hi}
         group by root_pid, root_backend_start, xact_start
         order by began desc, "rootPid"
         limit ${query.limit ?? 50}`,
      coverage: await this.coverage(sql, targetId, window),
    }));
    return {
      meta: this.meta(target, coverage.meta, started),
      chains: chains.map((c) => ({
        ...c,
        began: c.began.toISOString(),
        ended: c.ended.toISOString(),
        transactionStart: c.transactionStart?.toISOString() ?? null,
      })),
    };
  }

  /**
   * These statements' texts (as history last stored them), and their calls and time over the window from the
   * statement snapshots in it: 0 for one that did not move, null when no statement snapshot lies in the window.
   */
  private async statementFigures(store: HistoryStore, targetId: number, window: Window, queryIds: string[]) {
    const out = new Map<string, { calls: number | null; exec: number | null; query: string | null }>();
    if (queryIds.length === 0) return out;
    const ids = `{${queryIds.join(',')}}`;
    const { snapshots, texts, moved } = await store.read(async (sql) => ({
      snapshots: await sql<{ n: number }[]>`
        select count(*)::int as n from snapshots
         where target_id = ${targetId} and family = 'statements' and prev_at is not null
           and at > ${window.from} and at <= ${window.to}`,
      texts: await sql<{ queryid: string; query: string | null }[]>`
        select distinct on (queryid) queryid::text as queryid, query from statement_texts
         where target_id = ${targetId} and queryid = any(${ids}::int8[])
         order by queryid, first_seen desc`,
      moved: await sql<{ queryid: string; calls: number; exec: number }[]>`
        select queryid::text as queryid, coalesce(sum(calls), 0)::int8 as calls, coalesce(sum(exec_ms), 0)::float8 as exec
          from statement_deltas
         where target_id = ${targetId} and at > ${window.from} and at <= ${window.to}
           and queryid = any(${ids}::int8[])
         group by queryid`,
    }));
    const covered = snapshots[0].n > 0;
    const textOf = new Map(texts.map((t) => [t.queryid, t.query]));
    const movedOf = new Map(moved.map((m) => [m.queryid, m]));
    for (const id of queryIds) {
      const m = movedOf.get(id);
      out.set(id, {
        calls: covered ? Number(m?.calls ?? 0) : null,
        exec: covered ? (m?.exec ?? 0) : null,
        query: textOf.get(id) ?? null,
      });
    }
    return out;
  }

  /** What the window's buckets cover, its gaps (and an open one when sampling stopped), max_connections. */
  private async coverage(sql: StoreSql, targetId: number, window: Window) {
    const { lo, hi } = this.span(window);
    const [row] = await sql<{ buckets: number; last: Date | null; maxConnections: number | null }[]>`
      select count(*)::int as buckets, max(at) as last,
             (array_agg(max_connections order by at desc))[1] as "maxConnections"
        from load_ticks where target_id = ${targetId} and at >= ${lo} and at < ${hi}`;
    const gaps = await sql<{ from: Date; to: Date; reason: string }[]>`
      select from_at as from, to_at as to, reason from gaps
       where target_id = ${targetId} and family = 'load' and to_at > ${window.from} and from_at < ${window.to}
       order by from_at limit 1000`;
    const [latest] = await sql<
      { at: Date | null }[]
    >`select max(at) as at from load_ticks where target_id = ${targetId}`;
    const list = gaps.map((g) => ({ from: g.from.toISOString(), to: g.to.toISOString(), reason: g.reason }));
    const lastEnd = latest.at ? latest.at.getTime() + this.bucketMs : null;
    if (
      lastEnd !== null &&
      Date.now() - lastEnd > MAX_INTERVAL_CADENCES * this.bucketMs &&
      lastEnd < window.to.getTime()
    ) {
      list.push({
        from: new Date(Math.max(lastEnd, window.from.getTime())).toISOString(),
        to: window.to.toISOString(),
        reason: 'collector_down',
      });
    }
    const meta: WindowMetaDto = {
      from: window.from.toISOString(),
      to: window.to.toISOString(),
      coveredSeconds: (row.buckets * this.bucketMs) / 1000,
      gaps: list as WindowMetaDto['gaps'],
      possiblyIncomplete: false,
      evictions: 0,
    };
    return { meta, maxConnections: row.maxConnections, last: row.last };
  }

  private meta(target: Target, window: WindowMetaDto, started: number): MetaDto {
    return {
      collectedAt: new Date().toISOString(),
      serverVersion: target.knownInfo()?.version.match(/^PostgreSQL (\S+)/)?.[1] ?? 'unknown',
      durationMs: Math.round((performance.now() - started) * 100) / 100,
      cached: false,
      ageMs: 0,
      warnings: [],
      window,
    };
  }
}
