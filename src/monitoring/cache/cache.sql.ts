import type postgres from 'postgres';
import { SortOrder } from '../../http/query';
import { Tx } from '../../database/database.provider';
import { lockedSet, oidValues, relationFilter, ScopeFilter, userNamespace } from '../shared/relations.sql';

export const CACHE_ORDER_BY = ['hitRatio', 'reads', 'size', 'name'] as const;
export type CacheOrderBy = (typeof CACHE_ORDER_BY)[number];

export interface CacheFilters extends ScopeFilter {
  orderBy: CacheOrderBy;
  order: SortOrder;
  limit: number;
  minReads?: number;
}

export interface DatabaseCacheRow {
  name: string;
  blksHit: number;
  blksRead: number;
  clusterBlksHit: number;
  clusterBlksRead: number;
  statsReset: Date | null;
}

/** This database and all databases together, from pg_stat_database. */
export function databaseCacheQuery(sql: Tx) {
  return sql<DatabaseCacheRow[]>`
    select /* pgscope */ d.datname as name, d.blks_hit as "blksHit", d.blks_read as "blksRead",
           (select coalesce(sum(blks_hit), 0)::int8 from pg_catalog.pg_stat_database) as "clusterBlksHit",
           (select coalesce(sum(blks_read), 0)::int8 from pg_catalog.pg_stat_database) as "clusterBlksRead",
           d.stats_reset as "statsReset"
      from pg_catalog.pg_stat_database d where d.datname = current_database()`;
}

export interface TablesTotalsRow {
  heapBlksHit: number;
  heapBlksRead: number;
  idxBlksHit: number;
  idxBlksRead: number;
  toastBlksHit: number;
  toastBlksRead: number;
  toastIdxBlksHit: number;
  toastIdxBlksRead: number;
}

export interface TableCacheRow {
  oid: number;
  schema: string;
  table: string;
  heapBlksHit: number;
  heapBlksRead: number;
  idxBlksHit: number | null;
  idxBlksRead: number | null;
  toastBlksHit: number | null;
  toastBlksRead: number | null;
  sizeBytes: number | null;
  locked: boolean;
}

export interface IndexCacheRow {
  oid: number;
  schema: string;
  table: string;
  index: string;
  idxBlksHit: number;
  idxBlksRead: number;
  sizeBytes: number | null;
  locked: boolean;
}

export interface CacheRow {
  totals: TablesTotalsRow;
  perTable: TableCacheRow[];
  perIndex: IndexCacheRow[];
}

/** Per relation oid, from the slower cadence: a table's heap + indexes + TOAST bytes, an index's bytes. */
export type CacheFigures = [oid: number, bytes: number | null][];

const ratio = (sql: Tx, hit: postgres.Fragment, read: postgres.Fragment) =>
  sql`(${hit})::float8 / nullif(${hit} + ${read}, 0)`;

/**
 * Block counters of every user table as pg_statio_user_tables has them (heap, its indexes, TOAST and the TOAST
 * index; null where the table has none), their totals, and the page of tables and of indexes, in one statement:
 * each relation's counters are read once (pg_stat_get_blocks_* directly), its indexes' in one grouped pass.
 * Sizes come from the slower cadence; a relation created since is sized now.
 */
export function cacheQuery(sql: Tx, f: CacheFilters, locked: number[], figures: CacheFigures | undefined) {
  const read = (oid: postgres.Fragment) =>
    sql`(pg_catalog.pg_stat_get_blocks_fetched(${oid}) - pg_catalog.pg_stat_get_blocks_hit(${oid}))`;
  const hit = (oid: postgres.Fragment) => sql`pg_catalog.pg_stat_get_blocks_hit(${oid})`;
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const reads = sql`(heap_read + coalesce(idx_read, 0) + coalesce(toast_read, 0) + coalesce(tidx_read, 0))`;
  const tableKey = {
    hitRatio: sql`${ratio(sql, sql`heap_hit`, sql`heap_read`)} ${dir} nulls last`,
    reads: sql`${reads} ${dir}`,
    size: sql`size_bytes ${dir} nulls last`,
    name: sql`schema ${dir}, "table" ${dir}`,
  }[f.orderBy];
  const indexKey = {
    hitRatio: sql`${ratio(sql, sql`hit`, sql`read`)} ${dir} nulls last`,
    reads: sql`read ${dir}`,
    size: sql`size_bytes ${dir} nulls last`,
    name: sql`schema ${dir}, "table" ${dir}, index ${dir}`,
  }[f.orderBy];
  // Sizes order the page: every candidate joins them. Otherwise the page leaves them to the caller, who has them.
  const sizeOrder = figures !== undefined;
  // From the slower cadence; a relation created since (not among the figures) is sized now, unless it is locked.
  const tableSize = sql`case when fg.oid is not null then fg.bytes
                             when not x.any_locked then pg_catalog.pg_total_relation_size(x.oid) end`;
  const indexSize = (isLocked: postgres.Fragment) => sql`case when fg.oid is not null then fg.bytes
                             when not ${isLocked} then pg_catalog.pg_relation_size(x.oid) end`;
  return sql<CacheRow[]>`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    ${figures ? sql`figures as materialized ${oidValues(sql, figures, ['bytes'])},` : sql``}
    tab as materialized (
      select c.oid, n.nspname as schema, c.relname as "table", c.reltoastrelid,
             ${hit(sql`c.oid`)} as heap_hit, ${read(sql`c.oid`)} as heap_read,
             case when c.reltoastrelid <> 0 then ${hit(sql`c.reltoastrelid`)} end as toast_hit,
             case when c.reltoastrelid <> 0 then ${read(sql`c.reltoastrelid`)} end as toast_read,
             c.oid in (select * from locked) or c.reltoastrelid in (select * from locked) as locked
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'm') and c.relpersistence <> 't' and ${userNamespace(sql)}
         ${relationFilter(sql, f, sql`c`)}
    ),
    -- The indexes of those tables and of their TOAST tables, each read once (two hash joins with the tables).
    idx as materialized (
      select i.indexrelid as oid, i.indrelid, false as toast, ${hit(sql`i.indexrelid`)} as hit,
             ${read(sql`i.indexrelid`)} as read, i.indexrelid in (select * from locked) as locked
        from pg_catalog.pg_index i join tab t on t.oid = i.indrelid
      union all
      select i.indexrelid, i.indrelid, true, ${hit(sql`i.indexrelid`)}, ${read(sql`i.indexrelid`)},
             i.indexrelid in (select * from locked)
        from pg_catalog.pg_index i join tab t on t.reltoastrelid = i.indrelid
    ),
    idx_sums as (
      select indrelid, sum(hit)::int8 as hit, sum(read)::int8 as read, bool_or(locked) as locked
        from idx group by indrelid
    ),
    tables as (
      select t.*, s.hit as idx_hit, s.read as idx_read, ts.hit as tidx_hit, ts.read as tidx_read,
             t.locked or coalesce(s.locked, false) or coalesce(ts.locked, false) as any_locked
        from tab t
        left join idx_sums s on s.indrelid = t.oid
        left join idx_sums ts on ts.indrelid = t.reltoastrelid
    ),
    -- Sizes are joined to every candidate only when they order the page; otherwise to the page alone.
    table_candidates as (
      select x.*, ${sizeOrder ? sql`${tableSize}` : sql`null::int8`} as size_bytes
        from tables x ${sizeOrder ? sql`left join figures fg on fg.oid = x.oid` : sql``}
       where true ${f.minReads !== undefined ? sql`and ${reads} >= ${f.minReads}` : sql``}
    ),
    table_page as (
      select x.oid, x.schema, x."table", x.heap_hit, x.heap_read, x.idx_hit, x.idx_read, x.toast_hit, x.toast_read,
             x.tidx_hit, x.tidx_read, x.any_locked,
             x.size_bytes
        from (select * from table_candidates order by ${tableKey}, schema, "table" limit ${f.limit}) x
    ),
    index_candidates as (
      select x.oid, x.indrelid, x.hit, x.read, x.locked or t.locked as any_locked, t.schema, t."table",
             ${sizeOrder ? indexSize(sql`(x.locked or t.locked)`) : sql`null::int8`} as size_bytes
        from idx x
        join tab t on t.oid = x.indrelid
        ${sizeOrder ? sql`left join figures fg on fg.oid = x.oid` : sql``}
       where not x.toast ${f.minReads !== undefined ? sql`and x.read >= ${f.minReads}` : sql``}
    ),
    index_page as (
      select x.oid, x.schema, x."table", x.index, x.hit, x.read, x.any_locked, x.size_bytes
        from (select i.*, c.relname as index from index_candidates i
                join pg_catalog.pg_class c on c.oid = i.oid and c.relkind = 'i'
               order by ${indexKey}, schema, "table", index limit ${f.limit}) x
    )
    select (select json_build_object(
              'heapBlksHit', coalesce(sum(heap_hit), 0)::int8, 'heapBlksRead', coalesce(sum(heap_read), 0)::int8,
              'idxBlksHit', coalesce(sum(idx_hit), 0)::int8, 'idxBlksRead', coalesce(sum(idx_read), 0)::int8,
              'toastBlksHit', coalesce(sum(toast_hit), 0)::int8, 'toastBlksRead', coalesce(sum(toast_read), 0)::int8,
              'toastIdxBlksHit', coalesce(sum(tidx_hit), 0)::int8, 'toastIdxBlksRead', coalesce(sum(tidx_read), 0)::int8)
              from tables) as totals,
           coalesce((select json_agg(json_build_object(
              'oid', oid, 'schema', schema, 'table', "table", 'heapBlksHit', heap_hit, 'heapBlksRead', heap_read,
              'idxBlksHit', idx_hit, 'idxBlksRead', idx_read, 'toastBlksHit', toast_hit, 'toastBlksRead', toast_read,
              'sizeBytes', size_bytes, 'locked', any_locked) order by ${tableKey}, schema, "table")
              from table_page), '[]') as "perTable",
           coalesce((select json_agg(json_build_object(
              'oid', oid, 'schema', schema, 'table', "table", 'index', index, 'idxBlksHit', hit, 'idxBlksRead', read,
              'sizeBytes', size_bytes, 'locked', any_locked) order by ${indexKey}, schema, "table", index)
              from index_page), '[]') as "perIndex"`;
}

export interface BufferTotalsRow {
  sharedBuffersBytes: number;
  usedBytes: number;
  dirtyBytes: number;
}

export interface BufferRelationRow {
  schema: string;
  relation: string;
  kind: string;
  bufferedBytes: number;
  relationBytes: number | null;
}

export interface BuffersRow {
  totals: BufferTotalsRow;
  relations: BufferRelationRow[];
}

/**
 * pg_buffercache reads every buffer header (its cost grows with shared_buffers): read once for the totals and the
 * relations holding the most, at most every SIZES_MAX_AGE_MS. Buffers map to relations by relfilenode (catalogs
 * whose file is mapped, relfilenode 0, through pg_relation_filenode: a call per mapped catalog, not per relation).
 */
export function buffersQuery(sql: Tx, schema: string, limit: number, locked: number[]) {
  return sql<BuffersRow[]>`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    buffers as materialized (
      select b.relfilenode, b.reldatabase, b.isdirty from ${sql(schema)}.pg_buffercache b
    ),
    per_file as (
      select relfilenode, count(*) as buffers
        from buffers
       where relfilenode is not null
         and reldatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
       group by relfilenode
    ),
    top as (
      select c.oid, n.nspname as schema, c.relname as relation, c.relkind, b.buffers
        from per_file b
        join pg_catalog.pg_class c
          on coalesce(nullif(c.relfilenode, 0), pg_catalog.pg_relation_filenode(c.oid)) = b.relfilenode
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       order by b.buffers desc, n.nspname, c.relname
       limit ${limit}
    )
    select (select json_build_object(
              'sharedBuffersBytes', pg_catalog.pg_size_bytes(current_setting('shared_buffers'))::int8,
              'usedBytes', (count(*) filter (where relfilenode is not null) * current_setting('block_size')::int8)::int8,
              'dirtyBytes', (count(*) filter (where isdirty) * current_setting('block_size')::int8)::int8)
              from buffers) as totals,
           coalesce((select json_agg(json_build_object(
              'schema', schema, 'relation', relation,
              'kind', case relkind when 'r' then 'table' when 'i' then 'index' when 't' then 'toast'
                                   when 'm' then 'materialized view' when 'S' then 'sequence' else relkind::text end,
              'bufferedBytes', (buffers * current_setting('block_size')::int8)::int8,
              'relationBytes', case when oid not in (select * from locked)
                                    then (pg_catalog.pg_relation_size(oid, 'main') + pg_catalog.pg_relation_size(oid, 'fsm')
                                          + pg_catalog.pg_relation_size(oid, 'vm'))::int8 end)
              order by buffers desc, schema, relation) from top), '[]') as relations`;
}
