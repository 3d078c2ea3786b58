import type postgres from 'postgres';
import { SortOrder } from '../../common/query';
import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';
import { lockedSet, relationFilter, userNamespace } from '../shared/relations.sql';

export const INDEXES_ORDER_BY = ['size', 'scans', 'name', 'bloat'] as const;
export type IndexesOrderBy = (typeof INDEXES_ORDER_BY)[number];

/** A table is flagged `needsIndex` from this many rows (n_live_tup, else reltuples) … */
export const NEEDS_INDEX_MIN_ROWS = 10_000;
/** … when more than this share of its scans are sequential … */
export const NEEDS_INDEX_MIN_SEQ_SHARE = 0.5;
/** … and a sequential scan reads at least this many rows on average. */
export const NEEDS_INDEX_MIN_ROWS_PER_SEQ_SCAN = 1_000;

export interface RelationFilters {
  schema?: string;
  table?: string;
  orderBy: IndexesOrderBy;
  order: SortOrder;
  limit: number;
}

export interface IndexFilters extends RelationFilters {
  unused?: boolean;
  invalid?: boolean;
  duplicate?: boolean;
}

export interface IndexRow {
  oid: number;
  schema: string;
  table: string;
  index: string;
  indexType: string;
  definition: string | null;
  sizeBytes: number | null;
  scans: number;
  tuplesRead: number;
  tuplesFetched: number;
  lastScan: Date | null;
  isUnique: boolean;
  isPrimary: boolean;
  isConstraint: boolean;
  isPartial: boolean;
  isValid: boolean;
  unused: boolean;
  duplicateOf: string | null;
  redundantWith: string | null;
  locked: boolean;
}

export interface IndexSummaryRow {
  indexes: number;
  unusedIndexes: number;
  unusedIndexBytes: number;
  duplicateIndexes: number;
  invalidIndexes: number;
  totalIndexBytes: number;
}

/**
 * Every user index with its usage and the duplicate / redundant verdicts, computed from pg_index itself
 * (key columns, expressions, predicate, operator classes, collations, options), never from definition strings.
 */
function indexesCte(sql: Tx, major: number, f: RelationFilters, locked: number[]) {
  const lastScan = forVersions(major, {
    13: sql`null::timestamptz`,
    16: sql`pg_catalog.pg_stat_get_lastscan(i.indexrelid)`,
  });
  const isLocked = sql`(i.indexrelid in (select * from locked) or i.indrelid in (select * from locked))`;
  return sql`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    constraint_indexes as materialized (
      select conindid from pg_catalog.pg_constraint where contype in ('p', 'u', 'x') and conindid <> 0
    ),
    idx as materialized (
      select i.indexrelid as oid, i.indrelid, n.nspname as schema, t.relname as "table", c.relname as index,
             am.amname as index_type, i.indisunique, i.indisprimary, i.indisvalid, i.indnkeyatts,
             i.indpred is not null as is_partial,
             string_to_array(i.indkey::text, ' ')::int2[] as keys,
             string_to_array(i.indclass::text, ' ')::oid[] as opclasses,
             string_to_array(i.indcollation::text, ' ')::oid[] as collations,
             string_to_array(i.indoption::text, ' ')::int2[] as options,
             -- pg_get_expr() with a relation, like pg_get_indexdef(), waits for a lock on it: skipped when locked.
             case when not ${isLocked} then pg_catalog.pg_get_expr(i.indexprs, i.indrelid) end as exprs,
             case when not ${isLocked} then pg_catalog.pg_get_expr(i.indpred, i.indrelid) end as pred,
             -- pg_constraint has no index on conindid: one hashed set, not a scan per index.
             i.indexrelid in (select conindid from constraint_indexes) as is_constraint,
             c.relkind,
             -- A partitioned index is never scanned itself: its usage is that of its partitions (one level).
             case when c.relkind = 'I'
                  then (select coalesce(sum(pg_catalog.pg_stat_get_numscans(h.inhrelid)), 0)::int8
                          from pg_catalog.pg_inherits h where h.inhparent = i.indexrelid)
                  else pg_catalog.pg_stat_get_numscans(i.indexrelid) end as scans,
             case when c.relkind = 'I'
                  then (select coalesce(sum(pg_catalog.pg_stat_get_tuples_returned(h.inhrelid)), 0)::int8
                          from pg_catalog.pg_inherits h where h.inhparent = i.indexrelid)
                  else pg_catalog.pg_stat_get_tuples_returned(i.indexrelid) end as tuples_read,
             case when c.relkind = 'I'
                  then (select coalesce(sum(pg_catalog.pg_stat_get_tuples_fetched(h.inhrelid)), 0)::int8
                          from pg_catalog.pg_inherits h where h.inhparent = i.indexrelid)
                  else pg_catalog.pg_stat_get_tuples_fetched(i.indexrelid) end as tuples_fetched,
             ${lastScan} as last_scan,
             ${isLocked} as locked
        from pg_catalog.pg_index i
        join pg_catalog.pg_class c on c.oid = i.indexrelid
        join pg_catalog.pg_class t on t.oid = i.indrelid
        join pg_catalog.pg_namespace n on n.oid = t.relnamespace
        join pg_catalog.pg_am am on am.oid = c.relam
       where ${userNamespace(sql)} and t.relpersistence <> 't'
         ${relationFilter(sql, f, sql`t`)}
    ),
    ranked as (
      select idx.*,
             -- Which of identical indexes to keep: primary key, then constraint, then unique, then the oldest.
             (case when indisprimary then 0 when is_constraint then 1 when indisunique then 2 else 3 end) as keep_rank
        from idx
    ),
    -- Both verdicts join indexes of the same table (a hash join on indrelid): linear in the number of indexes.
    duplicates as (
      select distinct on (a.oid) a.oid, b.index as duplicate_of
        from ranked a
        join ranked b on b.indrelid = a.indrelid and b.oid <> a.oid
       where not a.locked and a.indisvalid and b.indisvalid
         and b.index_type = a.index_type and b.indnkeyatts = a.indnkeyatts and b.keys = a.keys
         and b.opclasses = a.opclasses and b.collations = a.collations and b.options = a.options
         and b.exprs is not distinct from a.exprs and b.pred is not distinct from a.pred
         and (b.keep_rank, b.oid) < (a.keep_rank, a.oid)
       order by a.oid, b.keep_rank, b.oid
    ),
    -- A btree whose key columns lead another btree's can serve the same lookups. Unique and constraint
    -- indexes enforce something, and INCLUDE columns may serve index-only scans: kept. The other side is read
    -- from pg_index through its indrelid index: a CTE-to-CTE join here was planned as a nested loop over all pairs.
    redundant as (
      select distinct on (a.oid) a.oid, bc.relname as redundant_with
        from ranked a
        join pg_catalog.pg_index bi on bi.indrelid = a.indrelid and bi.indexrelid <> a.oid
        join pg_catalog.pg_class bc on bc.oid = bi.indexrelid
       where not a.locked and a.index_type = 'btree' and a.indisvalid and bi.indisvalid
         and bc.relam = (select oid from pg_catalog.pg_am where amname = 'btree')
         and not a.indisunique and not a.is_constraint and a.exprs is null
         and cardinality(a.keys) = a.indnkeyatts and a.indnkeyatts < bi.indnkeyatts
         and (string_to_array(bi.indkey::text, ' ')::int2[])[1:a.indnkeyatts] = a.keys
         and (string_to_array(bi.indclass::text, ' ')::oid[])[1:a.indnkeyatts] = a.opclasses
         and (string_to_array(bi.indcollation::text, ' ')::oid[])[1:a.indnkeyatts] = a.collations
         and (string_to_array(bi.indoption::text, ' ')::int2[])[1:a.indnkeyatts] = a.options
         and (bi.indpred is null or pg_catalog.pg_get_expr(bi.indpred, bi.indrelid) = a.pred)
       order by a.oid, bi.indnkeyatts, bc.relname
    ),
    verdicts as (
      select a.*,
             a.scans = 0 and not a.indisunique and not a.is_constraint as unused,
             d.duplicate_of, r.redundant_with
        from ranked a
        left join duplicates d on d.oid = a.oid
        left join redundant r on r.oid = a.oid
    )`;
}

/** Size of an index, or of its partitions for a partitioned index; null when locked. */
const indexSize = (sql: Tx) => sql`
  case when v.locked then null
       when v.relkind = 'I'
       then (select coalesce(sum(pg_catalog.pg_relation_size(h.inhrelid)), 0)::int8
               from pg_catalog.pg_inherits h where h.inhparent = v.oid
                and h.inhrelid not in (select * from locked))
       else pg_catalog.pg_relation_size(v.oid) end`;

export function indexesQuery(sql: Tx, major: number, f: IndexFilters, locked: number[]) {
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const orderKey = {
    size: sql`size_bytes ${dir} nulls last`,
    scans: sql`scans ${dir}`,
    name: sql`schema ${dir}, "table" ${dir}, index ${dir}`,
    // Filled in by the bloat estimate; until then the order falls back to size.
    bloat: sql`size_bytes ${dir} nulls last`,
  }[f.orderBy];
  const orderBy = sql`${orderKey}, schema, "table", index`;
  // Sizes open relations, so they are read for every candidate only when the order needs them.
  const sizeFirst = f.orderBy === 'size' || f.orderBy === 'bloat';
  return sql<IndexRow[]>`
    ${indexesCte(sql, major, f, locked)},
    candidates as (
      select v.*, ${sizeFirst ? indexSize(sql) : sql`null::int8`} as size_bytes
        from verdicts v
       where true
         ${f.unused !== undefined ? sql`and v.unused = ${f.unused}` : sql``}
         ${f.invalid !== undefined ? sql`and (not v.indisvalid) = ${f.invalid}` : sql``}
         ${f.duplicate !== undefined ? sql`and (v.duplicate_of is not null) = ${f.duplicate}` : sql``}
    ),
    page as (select * from candidates order by ${orderBy} limit ${f.limit})
    select v.oid::int8 as oid, v.schema, v."table", v.index, v.index_type as "indexType",
           case when not v.locked then pg_catalog.pg_get_indexdef(v.oid) end as definition,
           ${sizeFirst ? sql`v.size_bytes` : indexSize(sql)} as "sizeBytes",
           v.scans, v.tuples_read as "tuplesRead", v.tuples_fetched as "tuplesFetched", v.last_scan as "lastScan",
           v.indisunique as "isUnique", v.indisprimary as "isPrimary", v.is_constraint as "isConstraint",
           v.is_partial as "isPartial", v.indisvalid as "isValid", v.unused,
           v.duplicate_of as "duplicateOf", v.redundant_with as "redundantWith", v.locked
      from page v
     order by ${orderBy}`;
}

export function indexSummaryQuery(sql: Tx, major: number, f: RelationFilters, locked: number[]) {
  return sql<IndexSummaryRow[]>`
    ${indexesCte(sql, major, f, locked)},
    sized as (select v.*, ${indexSize(sql)} as size_bytes from verdicts v)
    select count(*)::int as indexes,
           count(*) filter (where unused)::int as "unusedIndexes",
           -- A partitioned index shows its partitions' bytes: counted once, on the partitions.
           coalesce(sum(size_bytes) filter (where unused and relkind = 'i'), 0)::int8 as "unusedIndexBytes",
           count(*) filter (where duplicate_of is not null)::int as "duplicateIndexes",
           count(*) filter (where not indisvalid)::int as "invalidIndexes",
           coalesce(sum(size_bytes) filter (where relkind = 'i'), 0)::int8 as "totalIndexBytes"
      from sized`;
}

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
}

/**
 * User tables and materialized views with their usage, read with the pg_stat_get_* functions directly (the
 * pg_stat_user_tables view aggregates every index of every table, which is what gets slow on large catalogs).
 * A partitioned table gets the sums over its leaf partitions, found through pg_inherits (pg_partition_tree
 * would lock every partition).
 */
export function tablesQuery(sql: Tx, major: number, f: RelationFilters, locked: number[]) {
  const lastScans = forVersions(major, {
    13: sql`null::timestamptz as last_seq_scan, null::timestamptz as last_idx_scan`,
    16: sql`pg_catalog.pg_stat_get_lastscan(c.oid) as last_seq_scan,
            (select max(pg_catalog.pg_stat_get_lastscan(i.indexrelid)) from pg_catalog.pg_index i where i.indrelid = c.oid)
              as last_idx_scan`,
  });
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const orderKey = {
    size: sql`total_size_bytes ${dir} nulls last`,
    scans: sql`(seq_scans + coalesce(idx_scans, 0)) ${dir}`,
    name: sql`schema ${dir}, "table" ${dir}`,
    bloat: sql`total_size_bytes ${dir} nulls last`,
  }[f.orderBy];
  const orderBy = sql`${orderKey}, schema, "table"`;
  const sizeFirst = f.orderBy === 'size' || f.orderBy === 'bloat';
  return sql<TableRow[]>`
    with recursive /* pgscope */ locked as (${lockedSet(sql, locked)}),
    rel as materialized (
      select c.oid, n.nspname as schema, c.relname as "table", c.relkind, c.reltoastrelid, c.reltuples::float8 as reltuples,
             (select p.relname from pg_catalog.pg_inherits h join pg_catalog.pg_class p on p.oid = h.inhparent
               where h.inhrelid = c.oid and c.relispartition limit 1) as partition_of,
             pg_catalog.pg_stat_get_numscans(c.oid) as seq_scans,
             pg_catalog.pg_stat_get_tuples_returned(c.oid) as seq_tup_read,
             (select sum(pg_catalog.pg_stat_get_numscans(i.indexrelid))::int8
                from pg_catalog.pg_index i where i.indrelid = c.oid) as idx_scans,
             ${lastScans},
             pg_catalog.pg_stat_get_live_tuples(c.oid) as live,
             pg_catalog.pg_stat_get_dead_tuples(c.oid) as dead,
             pg_catalog.pg_stat_get_mod_since_analyze(c.oid) as mod_since_analyze,
             pg_catalog.pg_stat_get_last_vacuum_time(c.oid) as last_vacuum,
             pg_catalog.pg_stat_get_last_autovacuum_time(c.oid) as last_autovacuum,
             pg_catalog.pg_stat_get_last_analyze_time(c.oid) as last_analyze,
             pg_catalog.pg_stat_get_last_autoanalyze_time(c.oid) as last_autoanalyze,
             (c.oid in (select * from locked) or c.reltoastrelid in (select * from locked)
               or exists (select 1 from pg_catalog.pg_index i
                           where i.indrelid = c.oid and i.indexrelid in (select * from locked))) as locked
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
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
    sized as (
      select r.oid, r.schema, r."table", r.relkind, r.partition_of, r.reltuples,
             case when r.relkind = 'p' then (select count(*) from leaves l where l.root = r.oid)::int end as partitions,
             case when r.relkind = 'p'
                  then (select sum(seq_scans) from leaves l where l.root = r.oid)::int8 else r.seq_scans end as seq_scans,
             case when r.relkind = 'p'
                  then (select sum(seq_tup_read) from leaves l where l.root = r.oid)::int8 else r.seq_tup_read end as seq_tup_read,
             case when r.relkind = 'p'
                  then (select sum(idx_scans) from leaves l where l.root = r.oid)::int8 else r.idx_scans end as idx_scans,
             case when r.relkind = 'p'
                  then (select sum(live) from leaves l where l.root = r.oid)::int8 else r.live end as live,
             case when r.relkind = 'p'
                  then (select sum(dead) from leaves l where l.root = r.oid)::int8 else r.dead end as dead,
             case when r.relkind = 'p'
                  then (select sum(mod_since_analyze) from leaves l where l.root = r.oid)::int8
                  else r.mod_since_analyze end as mod_since_analyze,
             case when r.relkind = 'p'
                  then (select max(last_seq_scan) from leaves l where l.root = r.oid) else r.last_seq_scan end as last_seq_scan,
             case when r.relkind = 'p'
                  then (select max(last_idx_scan) from leaves l where l.root = r.oid) else r.last_idx_scan end as last_idx_scan,
             r.last_vacuum, r.last_autovacuum, r.last_analyze, r.last_autoanalyze,
             case when r.relkind = 'p'
                  then exists (select 1 from leaves l where l.root = r.oid and l.locked) or r.locked
                  else r.locked end as locked
        from rel r
       where true ${relationFilterRel(sql, f)}
    ),
    candidates as (select s.*, ${sizeFirst ? tableSizes(sql) : sql`null::int8 as size_bytes, null::int8 as total_size_bytes`} from sized s),
    page as (select * from candidates order by ${orderBy} limit ${f.limit}),
    final as (
      select ${
        sizeFirst
          ? sql`p.*`
          : sql`p.oid, p.schema, p."table", p.relkind, p.partition_of, p.reltuples, p.partitions,
             p.seq_scans, p.seq_tup_read, p.idx_scans, p.live, p.dead, p.mod_since_analyze, p.last_seq_scan,
             p.last_idx_scan, p.last_vacuum, p.last_autovacuum, p.last_analyze, p.last_autoanalyze, p.locked,
             ${tableSizes(sql, sql`p`)}`
      }
        from page p
    )
    select oid::int8 as oid, schema, "table",
           case relkind when 'p' then 'partitioned' when 'm' then 'materialized view' else 'table' end as kind,
           partition_of as "partitionOf", partitions, size_bytes as "sizeBytes", total_size_bytes as "totalSizeBytes",
           live as "liveTuples", dead as "deadTuples", mod_since_analyze as "modSinceAnalyze", reltuples,
           seq_scans as "seqScans", seq_tup_read as "seqTuplesRead", idx_scans as "indexScans",
           last_seq_scan as "lastSeqScan", last_idx_scan as "lastIndexScan",
           last_vacuum as "lastVacuum", last_autovacuum as "lastAutovacuum",
           last_analyze as "lastAnalyze", last_autoanalyze as "lastAutoanalyze", locked
      from final
     order by ${orderBy}`;
}

/** Heap and total (heap + indexes + TOAST) sizes; a partitioned table sums its leaves; locked ones are null. */
function tableSizes(sql: Tx, alias: postgres.Fragment = sql`s`) {
  return sql`
    case when ${alias}.relkind = 'p'
         then (select case when bool_or(l.locked) then null else sum(pg_catalog.pg_relation_size(l.oid)) end
                 from leaves l where l.root = ${alias}.oid)::int8
         when ${alias}.locked then null
         else pg_catalog.pg_relation_size(${alias}.oid) end as size_bytes,
    case when ${alias}.relkind = 'p'
         then (select case when bool_or(l.locked) then null else sum(pg_catalog.pg_total_relation_size(l.oid)) end
                 from leaves l where l.root = ${alias}.oid)::int8
         when ${alias}.locked then null
         else pg_catalog.pg_total_relation_size(${alias}.oid) end as total_size_bytes`;
}

const relationFilterRel = (sql: Tx, f: RelationFilters) => sql`
  ${f.schema !== undefined ? sql`and r.schema = ${f.schema}` : sql``}
  ${f.table !== undefined ? sql`and r."table" = ${f.table}` : sql``}`;
