import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';
import { lockedSet, oidValues, userNamespace } from '../shared/relations.sql';
import { RelationFilters } from './indexes.sql';

/**
 * Per table oid, from the slower cadence: heap bytes, heap + indexes + TOAST bytes, and the bytes VACUUM FULL would
 * give back (null without an estimate). A table missing from them (created since) is sized now.
 */
export type TableFigures = [oid: number, bytes: number | null, total: number | null, reclaimable: number | null][];

export interface TableRow {
  oid: number;
  schema: string;
  table: string;
  kind: 'table' | 'partitioned' | 'materialized view';
  partitionOf: string | null;
  partitions: number | null;
  sizeBytes: number | null;
  totalSizeBytes: number | null;
  liveTuples: number;
  deadTuples: number;
  modSinceAnalyze: number;
  reltuples: number;
  seqScans: number;
  seqTuplesRead: number;
  indexScans: number | null;
  lastSeqScan: Date | null;
  lastIndexScan: Date | null;
  lastVacuum: Date | null;
  lastAutovacuum: Date | null;
  lastAnalyze: Date | null;
  lastAutoanalyze: Date | null;
  locked: boolean;
  reclaimableTableBytes: number | null;
}

/** A table's usage over a window (history store): seq scans, tuples they read, index scans of all its indexes. */
export type TableUsage = [oid: number, seqScans: number, seqTuplesRead: number, indexScans: number][];

/**
 * User tables and materialized views with their usage, read with the pg_stat_get_* functions directly, their
 * indexes' figures gathered in one grouped pass over pg_index. A partitioned table gets the sums over its leaf
 * partitions, found through pg_inherits (pg_partition_tree would lock every partition).
 */
export function tablesQuery(
  sql: Tx,
  major: number,
  f: RelationFilters,
  locked: number[],
  figures: TableFigures,
  usage?: TableUsage,
) {
  const lastScans = forVersions(major, {
    13: sql`null::timestamptz as last_seq_scan`,
    16: sql`pg_catalog.pg_stat_get_lastscan(c.oid) as last_seq_scan`,
  });
  const lastIndexScan = forVersions(major, {
    13: sql`null::timestamptz`,
    16: sql`max(pg_catalog.pg_stat_get_lastscan(i.indexrelid))`,
  });
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const orderKey = {
    size: sql`total_size_bytes ${dir} nulls last`,
    scans: sql`(seq_scans + coalesce(idx_scans, 0)) ${dir}`,
    name: sql`schema ${dir}, "table" ${dir}`,
    bloat: sql`reclaimable ${dir} nulls last`,
  }[f.orderBy];
  const orderBy = sql`${orderKey}, schema, "table"`;
  const leafSum = (column: string) =>
    sql`case when r.relkind = 'p' then (select sum(${sql(column)}) from leaves l where l.root = r.oid)::int8
             else r.${sql(column)} end`;
  const leafMax = (column: string) =>
    sql`case when r.relkind = 'p' then (select max(${sql(column)}) from leaves l where l.root = r.oid)
             else r.${sql(column)} end`;
  return sql<TableRow[]>`
    with recursive /* pgscope */ locked as (${lockedSet(sql, locked)}),
    figures as materialized ${oidValues(sql, figures, ['bytes', 'total', 'reclaimable'])},
    ${usage ? sql`usage as materialized ${oidValues(sql, usage, ['seq_scans', 'seq_tup_read', 'idx_scans'])},` : sql``}
    -- Every table's indexes in one grouped pass (pg_stat_user_tables does the same), not a subquery per table.
    idx as materialized (
      select i.indrelid, sum(pg_catalog.pg_stat_get_numscans(i.indexrelid))::int8 as idx_scans,
             ${lastIndexScan} as last_idx_scan, bool_or(i.indexrelid in (select * from locked)) as locked
        from pg_catalog.pg_index i
       group by i.indrelid
    ),
    rel as materialized (
      select c.oid, n.nspname as schema, c.relname as "table", c.relkind, c.reltuples::float8 as reltuples,
             (select p.relname from pg_catalog.pg_inherits h join pg_catalog.pg_class p on p.oid = h.inhparent
               where h.inhrelid = c.oid and c.relispartition limit 1) as partition_of,
             ${
               usage
                 ? sql`coalesce(u.seq_scans, 0)::int8 as seq_scans, coalesce(u.seq_tup_read, 0)::int8 as seq_tup_read,
                       case when x.indrelid is not null then coalesce(u.idx_scans, 0)::int8 end as idx_scans,`
                 : sql`pg_catalog.pg_stat_get_numscans(c.oid) as seq_scans,
                       pg_catalog.pg_stat_get_tuples_returned(c.oid) as seq_tup_read, x.idx_scans,`
             }
             ${lastScans}, x.last_idx_scan,
             pg_catalog.pg_stat_get_live_tuples(c.oid) as live,
             pg_catalog.pg_stat_get_dead_tuples(c.oid) as dead,
             pg_catalog.pg_stat_get_mod_since_analyze(c.oid) as mod_since_analyze,
             pg_catalog.pg_stat_get_last_vacuum_time(c.oid) as last_vacuum,
             pg_catalog.pg_stat_get_last_autovacuum_time(c.oid) as last_autovacuum,
             pg_catalog.pg_stat_get_last_analyze_time(c.oid) as last_analyze,
             pg_catalog.pg_stat_get_last_autoanalyze_time(c.oid) as last_autoanalyze,
             (c.oid in (select * from locked) or c.reltoastrelid in (select * from locked)
               or coalesce(x.locked, false)) as locked,
             case when fg.oid is not null then fg.bytes
                  when c.relkind <> 'p' and c.oid not in (select * from locked)
                  then pg_catalog.pg_relation_size(c.oid) end as size_bytes,
             case when fg.oid is not null then fg.total
                  when c.relkind <> 'p' and not (c.oid in (select * from locked)
                                                 or c.reltoastrelid in (select * from locked) or coalesce(x.locked, false))
                  then pg_catalog.pg_total_relation_size(c.oid) end as total_size_bytes,
             fg.oid is null and c.relkind <> 'p' as unsized,
             fg.reclaimable
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        left join idx x on x.indrelid = c.oid
        left join figures fg on fg.oid = c.oid
        ${usage ? sql`left join usage u on u.oid = c.oid` : sql``}
       where c.relkind in ('r', 'm', 'p') and c.relpersistence <> 't' and ${userNamespace(sql)}
    ),
    tree (root, relid) as (
      select oid, oid from rel where relkind = 'p'
      union all
      select t.root, h.inhrelid from tree t join pg_catalog.pg_inherits h on h.inhparent = t.relid
    ),
    leaves as (
      select t.root, r.* from tree t join rel r on r.oid = t.relid where r.relkind <> 'p'
    ),
    summed as (
      select r.oid, r.schema, r."table", r.relkind, r.partition_of, r.reltuples,
             case when r.relkind = 'p' then (select count(*) from leaves l where l.root = r.oid)::int end as partitions,
             ${leafSum('seq_scans')} as seq_scans, ${leafSum('seq_tup_read')} as seq_tup_read,
             ${leafSum('idx_scans')} as idx_scans, ${leafSum('live')} as live, ${leafSum('dead')} as dead,
             ${leafSum('mod_since_analyze')} as mod_since_analyze,
             ${leafMax('last_seq_scan')} as last_seq_scan, ${leafMax('last_idx_scan')} as last_idx_scan,
             r.last_vacuum, r.last_autovacuum, r.last_analyze, r.last_autoanalyze,
             case when r.relkind = 'p' then exists (select 1 from leaves l where l.root = r.oid and l.locked) or r.locked
                  else r.locked end as locked,
             -- A partitioned table has no storage of its own: its leaves' sums, unknown if one of them is.
             case when r.relkind = 'p'
                  then (select case when bool_or(l.size_bytes is null) then null else sum(l.size_bytes) end
                          from leaves l where l.root = r.oid)::int8
                  else r.size_bytes end as size_bytes,
             case when r.relkind = 'p'
                  then (select case when bool_or(l.total_size_bytes is null) then null else sum(l.total_size_bytes) end
                          from leaves l where l.root = r.oid)::int8
                  else r.total_size_bytes end as total_size_bytes,
             r.reclaimable
        from rel r
       where true
         ${f.schema !== undefined ? sql`and r.schema = ${f.schema}` : sql``}
         ${f.table !== undefined ? sql`and r."table" = ${f.table}` : sql``}
    )
    select oid::int8 as oid, schema, "table",
           case relkind when 'p' then 'partitioned' when 'm' then 'materialized view' else 'table' end as kind,
           partition_of as "partitionOf", partitions, size_bytes as "sizeBytes", total_size_bytes as "totalSizeBytes",
           live as "liveTuples", dead as "deadTuples", mod_since_analyze as "modSinceAnalyze", reltuples,
           seq_scans as "seqScans", seq_tup_read as "seqTuplesRead", idx_scans as "indexScans",
           last_seq_scan as "lastSeqScan", last_idx_scan as "lastIndexScan",
           last_vacuum as "lastVacuum", last_autovacuum as "lastAutovacuum",
           last_analyze as "lastAnalyze", last_autoanalyze as "lastAutoanalyze", locked,
           -- Over every table in scope, not just the page (the window runs before the limit).
           (sum(reclaimable) over ())::int8 as "reclaimableTableBytes"
      from summed
     order by ${orderBy}
     limit ${f.limit}`;
}
