import { SortOrder } from '../../http/query';
import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';
import { lockedSet, oidValues, userNamespace } from '../shared/relations.sql';

/** pg_am's oid of btree (fixed in the catalog since its creation). */
const BTREE = 403;

export const INDEXES_ORDER_BY = ['size', 'scans', 'name', 'bloat'] as const;
export type IndexesOrderBy = (typeof INDEXES_ORDER_BY)[number];

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

/**
 * Figures read at their own, slower cadence (see SlowFiguresRegistry), per index oid: its main-fork bytes, and the
 * bytes REINDEX would give back (null without an estimate). An index missing from them (created since) is sized now.
 */
export type IndexFigures = [oid: number, bytes: number | null, reclaimable: number | null][];

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
  reclaimableIndexBytes: number | null;
}

/**
 * An index's usage over a window (from the history store), per index oid: scans, tuples read, tuples fetched. With
 * it, the usage columns, `unused` and the scans order are the window's; an index absent from it was not used.
 */
export type IndexUsage = [oid: number, scans: number, tuplesRead: number, tuplesFetched: number][];

/** The page, with the summary over every index in scope on each row (and alone when the page is empty). */
export type IndexPageRow = Partial<IndexRow> & { present: boolean; summary: IndexSummaryRow };

/**
 * Every user index in scope with its usage and the duplicate / redundant verdicts, and the summary, in one statement.
 * The verdicts compare pg_index's own vectors (key columns, operator classes, collations, options) as text, and
 * expressions and predicates as pg_get_expr() gives them (only for indexes that have them): never definition strings.
 * A partitioned index is never scanned itself: its usage is that of its partitions (one level).
 */
export function indexesQuery(
  sql: Tx,
  major: number,
  f: IndexFilters,
  locked: number[],
  figures: IndexFigures,
  usage?: IndexUsage,
) {
  const lastScan = forVersions(major, {
    13: sql`null::timestamptz`,
    16: sql`pg_catalog.pg_stat_get_lastscan(i.indexrelid)`,
  });
  const isLocked = sql`(i.indexrelid in (select * from locked) or i.indrelid in (select * from locked))`;
  const partitionSum = (fn: string) => sql`
    case when c.relkind = 'I'
         then (select coalesce(sum(pg_catalog.${sql.unsafe(fn)}(h.inhrelid)), 0)::int8
                 from pg_catalog.pg_inherits h where h.inhparent = i.indexrelid)
         else pg_catalog.${sql.unsafe(fn)}(i.indexrelid) end`;
  // Over a window: the stored deltas (a partitioned index's are its partitions').
  const windowSum = (column: string) => sql`
    case when c.relkind = 'I'
         then (select coalesce(sum(u.${sql(column)}), 0)::int8
                 from pg_catalog.pg_inherits h join usage u on u.oid = h.inhrelid where h.inhparent = i.indexrelid)
         else coalesce((select u.${sql(column)} from usage u where u.oid = i.indexrelid), 0)::int8 end`;
  const used = (fn: string, column: string) => (usage ? windowSum(column) : partitionSum(fn));
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const orderKey = {
    size: sql`size_bytes ${dir} nulls last`,
    scans: sql`scans ${dir}`,
    name: sql`schema ${dir}, "table" ${dir}, index ${dir}`,
    bloat: sql`reclaimable ${dir} nulls last`,
  }[f.orderBy];
  // The page is ordered by schema and index name within equal keys (the table name is not read for every index).
  const orderBy = sql`${orderKey}, schema, index`;
  const needsTable = f.table !== undefined || f.orderBy === 'name';
  return sql<IndexPageRow[]>`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    figures as materialized ${oidValues(sql, figures, ['bytes', 'reclaimable'])},
    ${usage ? sql`usage as materialized ${oidValues(sql, usage, ['scans', 'tuples_read', 'tuples_fetched'])},` : sql``}
    constraint_indexes as materialized (
      select conindid from pg_catalog.pg_constraint where contype in ('p', 'u', 'x') and conindid <> 0
    ),
    -- Only pg_index and the index's own pg_class row for every index: an index lives in its table's schema and has
    -- its persistence, so the table's pg_class row (its name) is joined for the page only, or where a table filter
    -- or the name order needs it.
    idx as materialized (
      select i.indexrelid as oid, i.indrelid, n.nspname as schema, ${needsTable ? sql`t.relname` : sql`null::name`} as "table",
             c.relname as index, c.relkind, c.relam, i.indisunique, i.indisprimary, i.indisvalid,
             i.indnatts, i.indnkeyatts,
             i.indkey::text as keys, i.indclass::text as opclasses, i.indcollation::text as collations,
             i.indoption::text as options,
             i.indexprs is not null as has_exprs, i.indpred is not null as is_partial,
             -- pg_get_expr() with a relation, like pg_get_indexdef(), waits for a lock on it: skipped when locked.
             case when i.indexprs is not null and not ${isLocked} then pg_catalog.pg_get_expr(i.indexprs, i.indrelid) end
               as exprs,
             case when i.indpred is not null and not ${isLocked} then pg_catalog.pg_get_expr(i.indpred, i.indrelid) end
               as pred,
             -- pg_constraint has no index on conindid: one hashed set, not a scan per index.
             i.indexrelid in (select conindid from constraint_indexes) as is_constraint,
             -- Which of identical indexes to keep: primary key, then constraint, then unique, then the oldest.
             case when i.indisprimary then 0 when i.indexrelid in (select conindid from constraint_indexes) then 1
                  when i.indisunique then 2 else 3 end as keep_rank,
             ${used('pg_stat_get_numscans', 'scans')} as scans,
             ${used('pg_stat_get_tuples_returned', 'tuples_read')} as tuples_read,
             ${used('pg_stat_get_tuples_fetched', 'tuples_fetched')} as tuples_fetched,
             ${lastScan} as last_scan,
             ${isLocked} as locked
        from pg_catalog.pg_index i
        join pg_catalog.pg_class c on c.oid = i.indexrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        ${needsTable ? sql`join pg_catalog.pg_class t on t.oid = i.indrelid` : sql``}
       where ${userNamespace(sql)} and c.relpersistence <> 't'
         ${f.schema !== undefined ? sql`and n.nspname = ${f.schema}` : sql``}
         ${f.table !== undefined ? sql`and t.relname = ${f.table}` : sql``}
    ),
    -- Both verdicts join the indexes of each table with each other (hash joins on the table): linear in the
    -- number of indexes.
    duplicates as (
      select distinct on (a.oid) a.oid, b.index as duplicate_of
        from idx a
        join idx b on b.indrelid = a.indrelid and b.relam = a.relam and b.indnkeyatts = a.indnkeyatts
                  and b.keys = a.keys and b.opclasses = a.opclasses and b.collations = a.collations
                  and b.options = a.options and b.has_exprs = a.has_exprs and b.is_partial = a.is_partial
       where b.oid <> a.oid and not a.locked and not b.locked and a.indisvalid and b.indisvalid
         and b.exprs is not distinct from a.exprs and b.pred is not distinct from a.pred
         and (b.keep_rank, b.oid) < (a.keep_rank, a.oid)
       order by a.oid, b.keep_rank, b.oid
    ),
    -- A btree whose key columns lead another btree's can serve the same lookups. Unique and constraint indexes
    -- enforce something, and INCLUDE columns may serve index-only scans: kept. The leading columns are compared as
    -- prefixes of the vectors' text ("2" leads "2 3", not "23 4").
    redundant as (
      select distinct on (a.oid) a.oid, b.index as redundant_with
        from idx a
        join idx b on b.indrelid = a.indrelid and b.relam = a.relam
       where a.relam = ${BTREE} and b.oid <> a.oid and not a.locked and not b.locked
         and a.indisvalid and b.indisvalid and not a.indisunique and not a.is_constraint and not a.has_exprs
         and a.indnatts = a.indnkeyatts and a.indnkeyatts < b.indnkeyatts
         and starts_with(b.keys || ' ', a.keys || ' ') and starts_with(b.opclasses || ' ', a.opclasses || ' ')
         and starts_with(b.collations || ' ', a.collations || ' ') and starts_with(b.options || ' ', a.options || ' ')
         and (not b.is_partial or b.pred = a.pred)
       order by a.oid, b.indnkeyatts, b.index
    ),
    verdicts as materialized (
      select a.oid, a.indrelid, a.schema, a."table", a.index, a.relkind, a.relam, a.indisunique, a.indisprimary,
             a.indisvalid, a.is_constraint, a.is_partial, a.scans, a.tuples_read, a.tuples_fetched, a.last_scan,
             a.locked,
             a.scans = 0 and not a.indisunique and not a.is_constraint as unused,
             d.duplicate_of, r.redundant_with,
             -- From the slower cadence; an index created since is sized now (unless it is locked).
             case when fg.oid is not null then fg.bytes
                  when a.relkind = 'i' and not a.locked then pg_catalog.pg_relation_size(a.oid) end as size_bytes,
             fg.reclaimable
        from idx a
        left join duplicates d on d.oid = a.oid
        left join redundant r on r.oid = a.oid
        left join figures fg on fg.oid = a.oid
    ),
    summary as (
      select count(*)::int as indexes,
             count(*) filter (where unused)::int as "unusedIndexes",
             -- A partitioned index shows its partitions' bytes: counted once, on the partitions.
             coalesce(sum(size_bytes) filter (where unused and relkind = 'i'), 0)::int8 as "unusedIndexBytes",
             count(*) filter (where duplicate_of is not null)::int as "duplicateIndexes",
             count(*) filter (where not indisvalid)::int as "invalidIndexes",
             coalesce(sum(size_bytes) filter (where relkind = 'i'), 0)::int8 as "totalIndexBytes",
             sum(reclaimable)::int8 as "reclaimableIndexBytes"
        from verdicts
    ),
    page as (
      select * from verdicts v
       where true
         ${f.unused !== undefined ? sql`and v.unused = ${f.unused}` : sql``}
         ${f.invalid !== undefined ? sql`and (not v.indisvalid) = ${f.invalid}` : sql``}
         ${f.duplicate !== undefined ? sql`and (v.duplicate_of is not null) = ${f.duplicate}` : sql``}
       order by ${orderBy}
       limit ${f.limit}
    )
    select coalesce(v.oid is not null, false) as present, row_to_json(s) as summary,
           v.oid::int8 as oid, v.schema,
           ${needsTable ? sql`v."table"` : sql`(select relname from pg_catalog.pg_class where oid = v.indrelid)`} as "table",
           v.index, (select amname from pg_catalog.pg_am where oid = v.relam) as "indexType",
           case when not v.locked then pg_catalog.pg_get_indexdef(v.oid) end as definition,
           v.size_bytes as "sizeBytes", v.scans, v.tuples_read as "tuplesRead", v.tuples_fetched as "tuplesFetched",
           v.last_scan as "lastScan", v.indisunique as "isUnique", v.indisprimary as "isPrimary",
           v.is_constraint as "isConstraint", v.is_partial as "isPartial", v.indisvalid as "isValid", v.unused,
           v.duplicate_of as "duplicateOf", v.redundant_with as "redundantWith", v.locked
      from summary s
      left join page v on true
     order by ${orderBy}`;
}
