import { SortOrder } from '../../http/query';
import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';

export const STATEMENTS_ORDER_BY = [
  'totalExecTime',
  'meanExecTime',
  'maxExecTime',
  'calls',
  'rows',
  'sharedBlksRead',
  'tempBlksWritten',
  'walBytes',
  'totalPlanTime',
  'ioTime',
] as const;
export type StatementsOrderBy = (typeof STATEMENTS_ORDER_BY)[number];

/** "1.10" -> 110: pg_stat_statements' columns follow the extension's version, not the server's. */
export function extensionVersionNumber(version: string): number {
  const [major, minor] = version.split('.').map(Number);
  return major * 100 + (minor || 0);
}

export interface StatementFilters {
  databaseName?: string;
  userName?: string;
  queryId?: string;
  /** A LIKE pattern (already escaped) matched case-insensitively against the text. */
  searchPattern?: string;
  minCalls?: number;
  toplevel?: boolean;
  /** Keys (`userid:dbid:queryid:toplevel`) of pgscope's own entries, left out. */
  selfKeys: EntryKey[];
  orderBy: StatementsOrderBy;
  order: SortOrder;
  limit: number;
  offset: number;
}

export interface EntryKey {
  userid: number;
  dbid: number;
  queryid: string;
  toplevel: boolean | null;
}

export interface StatementRow extends EntryKey {
  present: boolean;
  database: string | null;
  user: string | null;
  query: string | null;
  calls: number;
  rows: number;
  totalExecTimeMs: number;
  meanExecTimeMs: number;
  minExecTimeMs: number;
  maxExecTimeMs: number;
  stddevExecTimeMs: number;
  totalPlanTimeMs: number | null;
  plans: number | null;
  sharedBlksHit: number;
  sharedBlksRead: number;
  sharedBlksDirtied: number;
  sharedBlksWritten: number;
  localBlksHit: number;
  localBlksRead: number;
  tempBlksRead: number;
  tempBlksWritten: number;
  blkReadTimeMs: number;
  blkWriteTimeMs: number;
  walRecords: number | null;
  walBytes: number | null;
  jitFunctions: number | null;
  jitTimeMs: number | null;
  statsSince: Date | null;
  grandTotalExecTimeMs: number | null;
  totalStatements: number;
  totalCalls: number;
  totalExecTimeMs_: number;
  totalPlanTimeMs_: number | null;
}

/**
 * The counters of one entry under the same aliases whatever the extension version (1.4 … 1.12). Absent
 * columns are typed NULLs, never 0.
 */
export function counters(sql: Tx, ext: number) {
  const jit = (deform: boolean) =>
    sql`(s.jit_generation_time + s.jit_inlining_time + s.jit_optimization_time + s.jit_emission_time${
      deform ? sql` + s.jit_deform_time` : sql``
    })::float8`;
  // Each version changes only what it changed; the rest is the previous version's.
  const v104 = {
    time: 'total_time',
    plans: sql`null::int8`,
    planTime: sql`null::float8`,
    blkTimes: sql`s.blk_read_time::float8 as blk_read_time, s.blk_write_time::float8 as blk_write_time`,
    wal: sql`null::int8 as wal_records, null::int8 as wal_bytes`,
    toplevel: sql`null::bool`,
    jit: sql`null::int8 as jit_functions, null::float8 as jit_time`,
    since: sql`null::timestamptz`,
  };
  const v108 = {
    ...v104,
    time: 'exec_time',
    plans: sql`s.plans`,
    planTime: sql`s.total_plan_time::float8`,
    wal: sql`s.wal_records, s.wal_bytes::int8 as wal_bytes`,
  };
  const v109 = { ...v108, toplevel: sql`s.toplevel` };
  const v110 = { ...v109, jit: sql`s.jit_functions, ${jit(false)} as jit_time` };
  // 1.11 (PostgreSQL 17) split block I/O time into shared and local; the sum keeps the old meaning.
  const v111 = {
    ...v110,
    blkTimes: sql`(s.shared_blk_read_time + s.local_blk_read_time)::float8 as blk_read_time,
                  (s.shared_blk_write_time + s.local_blk_write_time)::float8 as blk_write_time`,
    jit: sql`s.jit_functions, ${jit(true)} as jit_time`,
    since: sql`s.stats_since`,
  };
  const variant = forVersions(ext, { 104: v104, 108: v108, 109: v109, 110: v110, 111: v111 });
  const t = (name: string) => sql.unsafe(variant.time === 'total_time' ? `s.${name}_time` : `s.${name}_exec_time`);
  return sql`
    s.userid::int8 as userid, s.dbid::int8 as dbid, s.queryid::text as queryid, ${variant.toplevel} as toplevel,
    s.calls, s.rows, ${t('total')}::float8 as total_exec_time, ${t('mean')}::float8 as mean_exec_time,
    ${t('min')}::float8 as min_exec_time, ${t('max')}::float8 as max_exec_time,
    ${t('stddev')}::float8 as stddev_exec_time, ${variant.plans} as plans, ${variant.planTime} as total_plan_time,
    s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
    s.local_blks_hit, s.local_blks_read, s.temp_blks_read, s.temp_blks_written,
    ${variant.blkTimes}, ${variant.wal}, ${variant.jit}, ${variant.since} as stats_since`;
}

export const fn = (sql: Tx, schema: string, showText: boolean) => sql`${sql(schema)}.pg_stat_statements(${showText})`;

/** A set of entry keys as rows (userid, dbid, queryid), from one json parameter. */
export const keysJson = (sql: Tx, keys: EntryKey[]) =>
  sql`(select (k->>'userid')::oid as userid, (k->>'dbid')::oid as dbid, (k->>'queryid')::int8 as queryid
         from jsonb_array_elements(${sql.json(keys as never)}) k)`;

/** The page, the totals over every entry matching the filters, and the exec time of all entries. */
export function statementsQuery(sql: Tx, schema: string, ext: number, f: StatementFilters) {
  const none = sql``;
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const key = {
    totalExecTime: sql`total_exec_time`,
    meanExecTime: sql`mean_exec_time`,
    maxExecTime: sql`max_exec_time`,
    calls: sql`calls`,
    rows: sql`rows`,
    sharedBlksRead: sql`shared_blks_read`,
    tempBlksWritten: sql`temp_blks_written`,
    walBytes: sql`wal_bytes`,
    totalPlanTime: sql`total_plan_time`,
    ioTime: sql`(blk_read_time + blk_write_time)`,
  }[f.orderBy];
  const orderBy = sql`${key} ${dir} nulls last, queryid, userid, dbid, toplevel`;
  const withText = f.searchPattern !== undefined;
  return sql<StatementRow[]>`
    with /* pgscope */ all_s as materialized (
      select ${counters(sql, ext)}${withText ? sql`, s.query` : none}
        from ${fn(sql, schema, withText)} s
    ),
    grand as (select sum(total_exec_time)::float8 as t from all_s),
    -- pgscope's own entries, decoded once (not once per entry).
    self as materialized ${keysJson(sql, f.selfKeys)},
    f as (
      select a.* from all_s a
       where true
         ${
           f.selfKeys.length
             ? sql`and not exists (select 1 from self k
                                    where k.userid = a.userid and k.dbid = a.dbid and k.queryid = a.queryid::int8)`
             : none
         }
         ${
           f.databaseName !== undefined
             ? sql`and a.dbid = (select oid from pg_catalog.pg_database where datname = ${f.databaseName})`
             : none
         }
         ${
           f.userName !== undefined
             ? sql`and a.userid = (select oid from pg_catalog.pg_roles where rolname = ${f.userName})`
             : none
         }
         ${f.queryId !== undefined ? sql`and a.queryid::int8 = ${f.queryId}::int8` : none}
         ${f.minCalls !== undefined ? sql`and a.calls >= ${f.minCalls}` : none}
         ${f.toplevel !== undefined ? sql`and a.toplevel = ${f.toplevel}` : none}
         ${withText ? sql`and a.query ilike ${f.searchPattern ?? ''}` : none}
    ),
    totals as (
      select count(*)::int8 as n, coalesce(sum(calls), 0)::int8 as calls,
             coalesce(sum(total_exec_time), 0)::float8 as exec, sum(total_plan_time)::float8 as plan
        from f
    ),
    page as (select true as present, f.* from f order by ${orderBy} limit ${f.limit} offset ${f.offset})
    select coalesce(p.present, false) as present, p.userid, p.dbid, p.queryid, p.toplevel,
           d.datname as database, r.rolname as "user", ${withText ? sql`p.query` : sql`null::text`} as query,
           p.calls, p.rows, p.total_exec_time as "totalExecTimeMs", p.mean_exec_time as "meanExecTimeMs",
           p.min_exec_time as "minExecTimeMs", p.max_exec_time as "maxExecTimeMs",
           p.stddev_exec_time as "stddevExecTimeMs", p.total_plan_time as "totalPlanTimeMs", p.plans,
           p.shared_blks_hit as "sharedBlksHit", p.shared_blks_read as "sharedBlksRead",
           p.shared_blks_dirtied as "sharedBlksDirtied", p.shared_blks_written as "sharedBlksWritten",
           p.local_blks_hit as "localBlksHit", p.local_blks_read as "localBlksRead",
           p.temp_blks_read as "tempBlksRead", p.temp_blks_written as "tempBlksWritten",
           p.blk_read_time as "blkReadTimeMs", p.blk_write_time as "blkWriteTimeMs",
           p.wal_records as "walRecords", p.wal_bytes as "walBytes",
           p.jit_functions as "jitFunctions", p.jit_time as "jitTimeMs", p.stats_since as "statsSince",
           (select t from grand) as "grandTotalExecTimeMs",
           t.n as "totalStatements", t.calls as "totalCalls", t.exec as "totalExecTimeMs_", t.plan as "totalPlanTimeMs_"
      from totals t
      left join page p on true
      left join pg_catalog.pg_database d on d.oid = p.dbid
      left join pg_catalog.pg_roles r on r.oid = p.userid
     order by ${orderBy}`;
}

/** pgscope's own role's entries, counters only (no text file read). */
export function ownEntriesQuery(sql: Tx, schema: string, ext: number) {
  const toplevel = ext >= 109 ? sql`s.toplevel` : sql`null::bool`;
  return sql<EntryKey[]>`
    select /* pgscope */ s.userid::int8 as userid, s.dbid::int8 as dbid, s.queryid::text as queryid, ${toplevel} as toplevel
      from ${fn(sql, schema, false)} s
     where s.userid = (select oid from pg_catalog.pg_roles where rolname = current_user)`;
}

/**
 * Texts of the given entries. pg_stat_statements reads its whole text file for any call with texts, so pgscope
 * calls this only for entries whose text it has not cached yet.
 */
export function textsQuery(sql: Tx, schema: string, ext: number, keys: EntryKey[]) {
  const toplevel = ext >= 109 ? sql`s.toplevel` : sql`null::bool`;
  return sql<(EntryKey & { query: string | null })[]>`
    select /* pgscope */ s.userid::int8 as userid, s.dbid::int8 as dbid, s.queryid::text as queryid, ${toplevel} as toplevel, s.query
      from ${fn(sql, schema, true)} s
     where (s.userid, s.dbid, s.queryid) in ${keysJson(sql, keys)}`;
}

export interface StatementsInfoRow {
  statsReset: Date | null;
  deallocations: number | null;
  currentUserId: number;
  trackIoTiming: boolean;
  trackPlanning: boolean | null;
}

const settings = (sql: Tx) => sql`
  (select oid from pg_catalog.pg_roles where rolname = current_user)::int8 as "currentUserId",
  current_setting('track_io_timing')::bool as "trackIoTiming",
  current_setting('pg_stat_statements.track_planning', true)::bool as "trackPlanning"`;

/** pg_stat_statements_info exists from 1.9 (PostgreSQL 14). */
export function statementsInfoQuery(sql: Tx, schema: string, ext: number) {
  return ext >= 109
    ? sql<StatementsInfoRow[]>`
        select /* pgscope */ i.stats_reset as "statsReset", i.dealloc as deallocations,
               ${settings(sql)}
          from ${sql(schema)}.pg_stat_statements_info i`
    : sql<StatementsInfoRow[]>`
        select /* pgscope */ null::timestamptz as "statsReset", null::int8 as deallocations, ${settings(sql)}`;
}
