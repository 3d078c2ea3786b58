import { Inject, Injectable } from '@nestjs/common';
import { AppError, InvalidParameterError } from '../../common/errors';
import { Env } from '../../config/env';
import { databaseOid } from '../../history/databases';
import { HistoryService } from '../../history/history.service';
import { arrayLiteral, StoreSql } from '../../history/store';
import { spanMs, Window, WindowParams } from '../../history/window';
import { statementRollups, windowCoverage, windowRows } from '../../history/window-read';
import { INT64_PATTERN } from '../../http/query';
import { Target } from '../../targets/target';
import { windowedMeta } from '../shared/meta.dto';
import {
  DatabaseSeriesQueryDto,
  DatabaseSeriesResponseDto,
  HistoryStatusResponseDto,
  SizePointDto,
  SizesSeriesQueryDto,
  SizesSeriesResponseDto,
  StatementSeriesQueryDto,
  StatementSeriesResponseDto,
} from './history.dto';
import { HistoryCollector } from '../../history/collector.service';

/** Steps a series picks when none is asked for (about DEFAULT_POINTS points, never below the cadence). */
const NICE_STEPS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
const DEFAULT_POINTS = 120;
const MAX_POINTS = 5000;

export class StatementNotFoundError extends AppError {
  constructor(queryId: string, target: string) {
    super(
      'STATEMENT_NOT_FOUND',
      404,
      'Statement not found',
      `The history of target "${target}" has no statement with queryid ${queryId}.`,
      'The queryids are those of GET /api/db/monitoring/postgres/statements (queryId); history has them from their ' +
        'first snapshot on.',
    );
  }
}

/** The width of a series' points: the one asked for (at least the cadence), or about DEFAULT_POINTS of them. */
export function stepMs(step: string | undefined, window: Window, cadenceMs: number, cadenceName: string): number {
  const span = window.to.getTime() - window.from.getTime();
  if (step !== undefined) {
    const ms = spanMs(step) as number;
    if (ms < cadenceMs) {
      throw InvalidParameterError.of(
        'step',
        `must be at least the cadence of its snapshots (${cadenceName}: ${cadenceMs / 1000} s)`,
      );
    }
    if (span / ms > MAX_POINTS) {
      throw InvalidParameterError.of('step', `gives more than ${MAX_POINTS} points over this window: take a wider one`);
    }
    return ms;
  }
  const wanted = Math.max(cadenceMs, span / DEFAULT_POINTS);
  return NICE_STEPS.find((s) => s >= wanted) ?? Math.ceil(wanted / 86_400_000) * 86_400_000;
}

/** The buckets of a window: aligned to the epoch, from the one holding `from` to the one holding `to`. */
export function buckets(window: Window, step: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(window.from.getTime() / step) * step; t <= window.to.getTime(); t += step) {
    if (t + step > window.from.getTime()) out.push(t);
  }
  return out;
}

const bucketOf = (at: Date, step: number) => Math.floor(at.getTime() / step) * step;

/**
 * The time series of the history store: pg_stat_database and one statement per bucket as rates, sizes as levels.
 * Read from the store alone.
 */
@Injectable()
export class HistorySeries {
  constructor(
    private readonly history: HistoryService,
    private readonly collector: HistoryCollector,
    @Inject(Env) private readonly env: Env,
  ) {}

  /** The window of a series: the one asked for, or the last `fallback` (1h, 1d). */
  private window(query: WindowParams, fallback: string): Window {
    const given = this.history.window(query);
    if (given) return given;
    void this.history.store;
    const now = new Date();
    return { from: new Date(now.getTime() - (spanMs(fallback) as number)), to: now };
  }

  async database(target: Target, query: DatabaseSeriesQueryDto): Promise<DatabaseSeriesResponseDto> {
    const started = performance.now();
    const window = this.window(query, '1h');
    const store = this.history.store;
    const cadence = this.env.HISTORY_DATABASE_INTERVAL;
    const step = stepMs(query.step, window, cadence, 'HISTORY_DATABASE_INTERVAL');
    const targetId = await store.targetId(target.name);
    const datname = query.database ?? target.defaultDatabase;
    const { rows, covered, dbid } = await store.read(async (sql) => {
      const [known] = await sql<{ dbid: number }[]>`
        select dbid::int8 as dbid from database_deltas
         where target_id = ${targetId} and datname = ${datname} order by at desc limit 1`;
      const covered = await coveredByAt(sql, targetId, 'database', [0], window);
      const rows = known
        ? await sql<Record<string, number | Date>[]>`
            select at, xact_commit, xact_rollback, blks_hit, blks_read, tup_returned, tup_fetched, tup_inserted,
                   tup_updated, tup_deleted, temp_files, temp_bytes, deadlocks
              from ${windowRows(sql, 'database_deltas', targetId, window)} d
             where dbid = ${known.dbid}`
        : [];
      return { rows, covered, dbid: known?.dbid };
    });
    if (dbid === undefined) await target.database(query.database);
    const coverage = await windowCoverage(
      store,
      { targetId, family: 'database', dbids: [0, dbid ?? -1], intervalMs: cadence },
      window,
    );
    const sums = new Map<number, Record<string, number>>();
    for (const r of rows) {
      const b = bucketOf(r.at as Date, step);
      const s = sums.get(b) ?? {};
      for (const [k, v] of Object.entries(r)) if (k !== 'at' && v !== null) s[k] = (s[k] ?? 0) + Number(v);
      sums.set(b, s);
    }
    const secondsIn = bucketSeconds(covered, step);
    return {
      meta: windowedMeta(coverage, started),
      database: datname,
      stepSeconds: step / 1000,
      points: buckets(window, step).map((b) => {
        const s = sums.get(b) ?? {};
        const seconds = secondsIn.get(b) ?? 0;
        const rate = (...keys: string[]) =>
          seconds > 0 ? keys.reduce((sum, k) => sum + (s[k] ?? 0), 0) / seconds : null;
        const blocks = (s.blks_hit ?? 0) + (s.blks_read ?? 0);
        return {
          at: new Date(b).toISOString(),
          coveredSeconds: round(seconds),
          transactionsPerSecond: rate('xact_commit', 'xact_rollback'),
          commitsPerSecond: rate('xact_commit'),
          rollbacksPerSecond: rate('xact_rollback'),
          blocksHitPerSecond: rate('blks_hit'),
          blocksReadPerSecond: rate('blks_read'),
          hitRatio: blocks > 0 ? (s.blks_hit ?? 0) / blocks : null,
          tuplesReturnedPerSecond: rate('tup_returned'),
          tuplesFetchedPerSecond: rate('tup_fetched'),
          tuplesInsertedPerSecond: rate('tup_inserted'),
          tuplesUpdatedPerSecond: rate('tup_updated'),
          tuplesDeletedPerSecond: rate('tup_deleted'),
          tempFilesPerSecond: rate('temp_files'),
          tempBytesPerSecond: rate('temp_bytes'),
          deadlocksPerSecond: rate('deadlocks'),
        };
      }),
    };
  }

  async statement(
    target: Target,
    queryId: string,
    query: StatementSeriesQueryDto,
  ): Promise<StatementSeriesResponseDto> {
    const started = performance.now();
    if (!new RegExp(INT64_PATTERN).test(queryId)) {
      throw InvalidParameterError.of(
        'queryId',
        'must be a signed 64-bit integer in decimal (-9223372036854775808 to 9223372036854775807)',
      );
    }
    const window = this.window(query, '1h');
    const store = this.history.store;
    const cadence = this.env.HISTORY_STATEMENTS_INTERVAL;
    const step = stepMs(query.step, window, cadence, 'HISTORY_STATEMENTS_INTERVAL');
    const targetId = await store.targetId(target.name);
    const none = (sql: StoreSql) => sql``;
    const { entries, rows, covered, known } = await store.read(async (sql) => {
      const entries = await sql<
        { dbid: number; userid: number; datname: string | null; rolname: string | null; query: string | null }[]
      >`
        select dbid::int8 as dbid, userid::int8 as userid, datname, rolname, query from statement_texts
         where target_id = ${targetId} and queryid = ${queryId}::int8
           ${query.database !== undefined ? sql`and datname = ${query.database}` : none(sql)}
           ${query.user !== undefined ? sql`and rolname = ${query.user}` : none(sql)}
         order by first_seen limit 1000`;
      if (entries.length === 0) {
        // Unknown to the store is a 404; known, with no entry matching database/user, an empty series.
        const [known] = await sql<{ n: number }[]>`
          select count(*)::int as n from statement_texts where target_id = ${targetId} and queryid = ${queryId}::int8`;
        return { entries, rows: [], covered: [], known: known.n > 0 };
      }
      // A rollup serves the buckets of a step it divides.
      const rollups = (await statementRollups(sql, targetId)).filter((r) => step % r.unitMs === 0);
      const rows = await sql<
        { at: Date; calls: number; exec_ms: number; rows: number; hit: number; read: number; temp: number }[]
      >`
        select at, coalesce(sum(calls), 0)::int8 as calls, coalesce(sum(exec_ms), 0)::float8 as exec_ms,
               coalesce(sum(rows), 0)::int8 as rows, coalesce(sum(shared_hit), 0)::int8 as hit,
               coalesce(sum(shared_read), 0)::int8 as read, coalesce(sum(temp_written), 0)::int8 as temp
          from ${windowRows(sql, 'statement_deltas', targetId, window, rollups)} d
         where queryid = ${queryId}::int8
           and (dbid, userid) in (select x.dbid, x.userid
                                    from unnest(${arrayLiteral(entries.map((e) => Number(e.dbid)))}::oid[],
                                                ${arrayLiteral(entries.map((e) => Number(e.userid)))}::oid[]) as x(dbid, userid))
         group by at`;
      return { entries, rows, covered: await coveredByAt(sql, targetId, 'statements', [0], window), known: true };
    });
    if (!known) throw new StatementNotFoundError(queryId, target.name);
    const coverage = await windowCoverage(
      store,
      { targetId, family: 'statements', dbids: [0], intervalMs: cadence },
      window,
    );
    const sums = new Map<
      number,
      { calls: number; exec: number; rows: number; hit: number; read: number; temp: number }
    >();
    for (const r of rows) {
      const b = bucketOf(r.at, step);
      const s = sums.get(b) ?? { calls: 0, exec: 0, rows: 0, hit: 0, read: 0, temp: 0 };
      s.calls += r.calls;
      s.exec += r.exec_ms;
      s.rows += r.rows;
      s.hit += r.hit;
      s.read += r.read;
      s.temp += r.temp;
      sums.set(b, s);
    }
    const secondsIn = bucketSeconds(covered, step);
    const unique = (values: (string | null)[]) => [...new Set(values.filter((v): v is string => v !== null))].sort();
    return {
      meta: windowedMeta(coverage, started),
      queryId,
      query: entries.find((e) => e.query !== null)?.query ?? null,
      databases: unique(entries.map((e) => e.datname)),
      users: unique(entries.map((e) => e.rolname)),
      stepSeconds: step / 1000,
      points: buckets(window, step).map((b) => {
        const s = sums.get(b) ?? { calls: 0, exec: 0, rows: 0, hit: 0, read: 0, temp: 0 };
        const seconds = secondsIn.get(b) ?? 0;
        return {
          at: new Date(b).toISOString(),
          coveredSeconds: round(seconds),
          calls: s.calls,
          callsPerSecond: seconds > 0 ? s.calls / seconds : null,
          totalExecTimeMs: s.exec,
          meanExecTimeMs: s.calls > 0 ? s.exec / s.calls : null,
          rows: s.rows,
          sharedBlksHit: s.hit,
          sharedBlksRead: s.read,
          tempBlksWritten: s.temp,
        };
      }),
    };
  }

  async sizes(target: Target, query: SizesSeriesQueryDto): Promise<SizesSeriesResponseDto> {
    const started = performance.now();
    const window = this.window(query, '1d');
    const store = this.history.store;
    const cadence = this.env.HISTORY_SIZES_INTERVAL;
    const step = stepMs(query.step, window, cadence, 'HISTORY_SIZES_INTERVAL');
    const limit = query.limit ?? 10;
    const targetId = await store.targetId(target.name);
    const { datname, dbid } = await databaseOid(store, target, query.database);
    const coverage = await windowCoverage(
      store,
      { targetId, family: 'sizes', dbids: [dbid ?? -1], intervalMs: cadence },
      window,
    );
    const { top, rows } = await store.read(async (sql) => {
      const top = await sql<{ relid: number; schema: string; name: string; kind: string }[]>`
        with newest as (
          select distinct on (relid) relid, total_bytes from relation_sizes
           where target_id = ${targetId} and dbid = ${dbid ?? -1} and relid <> 0 and at <= ${window.to}
           order by relid, at desc
        )
        select n.relid::int8 as relid, r.schema, r.name, r.kind::text as kind
          from newest n join relations r on r.target_id = ${targetId} and r.dbid = ${dbid ?? -1} and r.relid = n.relid
         where r.kind in ('r', 'm') and n.total_bytes is not null
         order by n.total_bytes desc, r.schema, r.name
         limit ${limit}`;
      const relids = [0, ...top.map((t) => Number(t.relid))];
      const rows = await sql<{ relid: number; at: Date; bytes: number | null }[]>`
        with rel as (select unnest(${arrayLiteral(relids)}::oid[]) as relid)
        select s.relid::int8 as relid, s.at, case when s.relid = 0 then s.bytes else s.total_bytes end as bytes
          from relation_sizes s
         where s.target_id = ${targetId} and s.dbid = ${dbid ?? -1} and s.relid in (select relid from rel)
           and s.at > ${window.from} and s.at <= ${window.to}
        union all
        select b.relid::int8, b.at, b.bytes from rel
          cross join lateral (
            select s.relid, s.at, case when s.relid = 0 then s.bytes else s.total_bytes end as bytes
              from relation_sizes s
             where s.target_id = ${targetId} and s.dbid = ${dbid ?? -1} and s.relid = rel.relid and s.at <= ${window.from}
             order by s.at desc limit 1) b
        order by 2`;
      return { top, rows };
    });
    const bucketList = buckets(window, step);
    const series = (relid: number): { points: SizePointDto[]; growth: number | null; last: number | null } => {
      const mine = rows.filter((r) => Number(r.relid) === relid);
      let i = 0;
      let level: number | null = null;
      const points = bucketList.map((b) => {
        while (i < mine.length && mine[i].at.getTime() < b + step) level = mine[i++].bytes;
        return { at: new Date(b).toISOString(), bytes: level };
      });
      // The size at the window's start (or the first one in it) and the newest.
      const first = mine[0]?.bytes ?? null;
      const last = mine.at(-1)?.bytes ?? null;
      return { points, growth: mine.length >= 2 && first !== null && last !== null ? last - first : null, last };
    };
    return {
      meta: windowedMeta(coverage, started),
      database: datname,
      stepSeconds: step / 1000,
      databaseSize: series(0).points,
      relations: top.map((t) => {
        const s = series(Number(t.relid));
        return {
          schema: t.schema,
          name: t.name,
          kind: t.kind === 'm' ? 'materialized view' : 'table',
          bytes: s.last,
          growthBytes: s.growth,
          points: s.points,
        };
      }),
    };
  }

  async status(): Promise<HistoryStatusResponseDto> {
    const store = this.history.store;
    const status = await store.status();
    const stored = await store.read(
      (sql) => sql<{ target: string; family: string; datname: string | null; oldest: Date; newest: Date }[]>`
        select t.name as target, s.family, s.datname, min(s.at) as oldest, max(s.at) as newest
          from snapshots s join targets t on t.id = s.target_id
         group by t.name, s.family, s.datname
         order by 1, 2, 3 nulls first
         limit 10000`,
    );
    const key = (target: string, family: string, database: string | null) =>
      `${target}\u0000${family}\u0000${database ?? ''}`;
    const states = new Map((this.collector.now?.list() ?? []).map((s) => [key(s.target, s.family, s.database), s]));
    const intervals: Record<string, number> = {
      statements: this.env.HISTORY_STATEMENTS_INTERVAL,
      database: this.env.HISTORY_DATABASE_INTERVAL,
      relations: this.env.HISTORY_RELATIONS_INTERVAL,
      sizes: this.env.HISTORY_SIZES_INTERVAL,
    };
    const keys = new Set([...stored.map((r) => key(r.target, r.family, r.datname)), ...states.keys()]);
    const byKey = new Map(stored.map((r) => [key(r.target, r.family, r.datname), r]));
    return {
      store: { ...status, retentionDays: this.env.HISTORY_RETENTION_DAYS },
      collections: [...keys].sort().map((k) => {
        const [target, family, database] = k.split('\u0000');
        const s = states.get(k);
        const r = byKey.get(k);
        return {
          target,
          family,
          database: database === '' ? null : database,
          intervalSeconds: intervals[family] / 1000,
          oldest: r?.oldest.toISOString() ?? null,
          newest: r?.newest.toISOString() ?? null,
          collections: s?.collections ?? 0,
          skips: s?.skips ?? 0,
          lastDurationMs: s?.lastDurationMs === null || s === undefined ? null : round(s.lastDurationMs),
          lastRows: s?.lastRows ?? null,
          lastError: s?.lastError
            ? { code: s.lastError.code, message: s.lastError.message, at: s.lastError.at.toISOString() }
            : null,
        };
      }),
    };
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** The covered seconds of each snapshot that ends in the window (its whole interval). */
async function coveredByAt(sql: StoreSql, targetId: number, family: string, dbids: number[], window: Window) {
  return sql<{ at: Date; seconds: number }[]>`
    select at, extract(epoch from at - prev_at)::float8 as seconds from snapshots
     where target_id = ${targetId} and family = ${family} and dbid = any(${arrayLiteral(dbids)}::oid[])
       and at > ${window.from} and at <= ${window.to} and prev_at is not null`;
}

function bucketSeconds(covered: { at: Date; seconds: number }[], step: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const c of covered) {
    const b = bucketOf(c.at, step);
    out.set(b, (out.get(b) ?? 0) + c.seconds);
  }
  return out;
}
