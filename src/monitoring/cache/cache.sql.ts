import type postgres from 'postgres';
import { SortOrder } from '../../common/query';
import { Tx } from '../../database/database.provider';
import { lockedSet, relationFilter, ScopeFilter, userNamespace } from '../shared/relations.sql';

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

/**
 * Block counters per user table as pg_statio_user_tables has them (heap, its indexes, TOAST and the TOAST index;
 * null where the table has none), read with pg_stat_get_blocks_* directly.
 */
function tablesCte(sql: Tx, f: ScopeFilter, locked: number[]) {
  const read = (oid: postgres.Fragment) =>
    sql`(pg_catalog.pg_stat_get_blocks_fetched(${oid}) - pg_catalog.pg_stat_get_blocks_hit(${oid}))`;
  const hit = (oid: postgres.Fragment) => sql`pg_catalog.pg_stat_get_blocks_hit(${oid})`;
  return sql`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    tab as materialized (
      select c.oid, n.nspname as schema, c.relname as "table",
             ${hit(sql`c.oid`)} as heap_hit, ${read(sql`c.oid`)} as heap_read,
             (select sum(${hit(sql`i.indexrelid`)})::int8 from pg_catalog.pg_index i where i.indrelid = c.oid) as idx_hit,
             (select sum(${read(sql`i.indexrelid`)})::int8 from pg_catalog.pg_index i where i.indrelid = c.oid) as idx_read,
             case when c.reltoastrelid <> 0 then ${hit(sql`c.reltoastrelid`)} end as toast_hit,
             case when c.reltoastrelid <> 0 then ${read(sql`c.reltoastrelid`)} end as toast_read,
             (select sum(${hit(sql`i.indexrelid`)})::int8 from pg_catalog.pg_index i
               where c.reltoastrelid <> 0 and i.indrelid = c.reltoastrelid) as tidx_hit,
             (select sum(${read(sql`i.indexrelid`)})::int8 from pg_catalog.pg_index i
               where c.reltoastrelid <> 0 and i.indrelid = c.reltoastrelid) as tidx_read,
             (c.oid in (select * from locked) or c.reltoastrelid in (select * from locked)
               or exists (select 1 from pg_catalog.pg_index i
                           where i.indrelid = c.oid and i.indexrelid in (select * from locked))) as locked
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'm') and c.relpersistence <> 't' and ${userNamespace(sql)}
         ${relationFilter(sql, f, sql`c`)}
    )`;
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

export function tablesTotalsQuery(sql: Tx, f: ScopeFilter) {
  return sql<TablesTotalsRow[]>`
    ${tablesCte(sql, f, [])}
    select coalesce(sum(heap_hit), 0)::int8 as "heapBlksHit", coalesce(sum(heap_read), 0)::int8 as "heapBlksRead",
           coalesce(sum(idx_hit), 0)::int8 as "idxBlksHit", coalesce(sum(idx_read), 0)::int8 as "idxBlksRead",
           coalesce(sum(toast_hit), 0)::int8 as "toastBlksHit", coalesce(sum(toast_read), 0)::int8 as "toastBlksRead",
           coalesce(sum(tidx_hit), 0)::int8 as "toastIdxBlksHit", coalesce(sum(tidx_read), 0)::int8 as "toastIdxBlksRead"
      from tab`;
}

export interface TableCacheRow {
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

const ratio = (sql: Tx, hit: postgres.Fragment, read: postgres.Fragment) =>
  sql`(${hit})::float8 / nullif(${hit} + ${read}, 0)`;

export function perTableQuery(sql: Tx, f: CacheFilters, locked: number[]) {
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const reads = sql`(heap_read + coalesce(idx_read, 0) + coalesce(toast_read, 0) + coalesce(tidx_read, 0))`;
  const size = sql`case when not locked then pg_catalog.pg_total_relation_size(oid) end`;
  const sizeFirst = f.orderBy === 'size';
  const key = {
    hitRatio: sql`${ratio(sql, sql`heap_hit`, sql`heap_read`)} ${dir} nulls last`,
    reads: sql`${reads} ${dir}`,
    size: sql`size_bytes ${dir} nulls last`,
    name: sql`schema ${dir}, "table" ${dir}`,
  }[f.orderBy];
  return sql<TableCacheRow[]>`
    ${tablesCte(sql, f, locked)},
    candidates as (
      select t.*, ${sizeFirst ? size : sql`null::int8`} as size_bytes
        from tab t
       where true ${f.minReads !== undefined ? sql`and ${reads} >= ${f.minReads}` : sql``}
    ),
    page as (select * from candidates order by ${key}, schema, "table" limit ${f.limit})
    select schema, "table", heap_hit as "heapBlksHit", heap_read as "heapBlksRead",
           idx_hit as "idxBlksHit", idx_read as "idxBlksRead", toast_hit as "toastBlksHit", toast_read as "toastBlksRead",
           ${sizeFirst ? sql`size_bytes` : size} as "sizeBytes", locked
      from page
     order by ${key}, schema, "table"`;
}

export interface IndexCacheRow {
  schema: string;
  table: string;
  index: string;
  idxBlksHit: number;
  idxBlksRead: number;
  sizeBytes: number | null;
  locked: boolean;
}

export function perIndexQuery(sql: Tx, f: CacheFilters, locked: number[]) {
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const size = sql`case when not locked then pg_catalog.pg_relation_size(oid) end`;
  const sizeFirst = f.orderBy === 'size';
  const key = {
    hitRatio: sql`${ratio(sql, sql`hit`, sql`read`)} ${dir} nulls last`,
    reads: sql`read ${dir}`,
    size: sql`size_bytes ${dir} nulls last`,
    name: sql`schema ${dir}, "table" ${dir}, index ${dir}`,
  }[f.orderBy];
  return sql<IndexCacheRow[]>`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    idx as materialized (
      select i.indexrelid as oid, n.nspname as schema, t.relname as "table", c.relname as index,
             pg_catalog.pg_stat_get_blocks_hit(i.indexrelid) as hit,
             pg_catalog.pg_stat_get_blocks_fetched(i.indexrelid) - pg_catalog.pg_stat_get_blocks_hit(i.indexrelid) as read,
             (i.indexrelid in (select * from locked) or i.indrelid in (select * from locked)) as locked
        from pg_catalog.pg_index i
        join pg_catalog.pg_class c on c.oid = i.indexrelid
        join pg_catalog.pg_class t on t.oid = i.indrelid
        join pg_catalog.pg_namespace n on n.oid = t.relnamespace
       where t.relkind in ('r', 'm') and c.relkind = 'i' and t.relpersistence <> 't' and ${userNamespace(sql)}
         ${relationFilter(sql, f, sql`t`)}
    ),
    candidates as (
      select x.*, ${sizeFirst ? size : sql`null::int8`} as size_bytes
        from idx x
       where true ${f.minReads !== undefined ? sql`and read >= ${f.minReads}` : sql``}
    ),
    page as (select * from candidates order by ${key}, schema, "table", index limit ${f.limit})
    select schema, "table", index, hit as "idxBlksHit", read as "idxBlksRead",
           ${sizeFirst ? sql`size_bytes` : size} as "sizeBytes", locked
      from page
     order by ${key}, schema, "table", index`;
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

/** pg_buffercache reads every buffer header: bounded by the statement timeout, and only when asked for. */
export function bufferTotalsQuery(sql: Tx, schema: string) {
  return sql<BufferTotalsRow[]>`
    select /* pgscope */ pg_catalog.pg_size_bytes(current_setting('shared_buffers'))::int8 as "sharedBuffersBytes",
           (count(*) filter (where b.relfilenode is not null) * current_setting('block_size')::int8)::int8 as "usedBytes",
           (count(*) filter (where b.isdirty) * current_setting('block_size')::int8)::int8 as "dirtyBytes"
      from ${sql(schema)}.pg_buffercache b`;
}

export function bufferRelationsQuery(sql: Tx, schema: string, limit: number, locked: number[]) {
  return sql<BufferRelationRow[]>`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    b as (
      select b.relfilenode, count(*) as buffers
        from ${sql(schema)}.pg_buffercache b
       where b.relfilenode is not null
         and b.reldatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
       group by b.relfilenode
    ),
    top as (
      select c.oid, n.nspname as schema, c.relname as relation, c.relkind, b.buffers
        from b
        join pg_catalog.pg_class c on pg_catalog.pg_relation_filenode(c.oid) = b.relfilenode
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       order by b.buffers desc, n.nspname, c.relname
       limit ${limit}
    )
    select schema, relation,
           case relkind when 'r' then 'table' when 'i' then 'index' when 't' then 'toast' when 'm' then 'materialized view'
                        when 'S' then 'sequence' else relkind::text end as kind,
           (buffers * current_setting('block_size')::int8)::int8 as "bufferedBytes",
           case when oid not in (select * from locked)
                then (pg_catalog.pg_relation_size(oid, 'main') + pg_catalog.pg_relation_size(oid, 'fsm')
                      + pg_catalog.pg_relation_size(oid, 'vm'))::int8 end as "relationBytes"
      from top
     order by buffers desc, schema, relation`;
}
