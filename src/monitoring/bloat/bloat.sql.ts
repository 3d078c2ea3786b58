import type postgres from 'postgres';
import { Tx } from '../../database/database.provider';
import { userNamespace } from '../shared/relations.sql';
import { ColumnInput } from './bloat.estimate';

/** Live rows now: the statistics system's count where it has one, else reltuples. */
const liveRows = (sql: Tx, oid: ReturnType<Tx>) => sql`
  case when pg_catalog.pg_stat_get_live_tuples(${oid}) + pg_catalog.pg_stat_get_dead_tuples(${oid}) > 0
       then pg_catalog.pg_stat_get_live_tuples(${oid})::float8
       else greatest((select reltuples from pg_catalog.pg_class where oid = ${oid}), 0)::float8 end`;

/** Only these tables (or, for indexes, these indexes), or every user relation when `oids` is undefined. */
const only = (sql: Tx, column: postgres.Fragment, oids: number[] | undefined): postgres.Fragment =>
  oids === undefined ? sql`` : sql`and ${column} = any(${`{${oids.join(',')}}`}::oid[])`;

/**
 * pg_stats read once for the tables concerned (a hash join afterwards): joined per table it is rescanned for every
 * relation, which made /indexes quadratic in the number of tables. `tables` restricts it to these table oids.
 */
const statsCte = (sql: Tx, tables: postgres.Fragment | undefined) => sql`
  stats as materialized (
    select schemaname, tablename, attname, inherited, avg_width, null_frac, n_distinct
      from pg_catalog.pg_stats
     where schemaname not in ('pg_catalog', 'information_schema') and schemaname !~ '^pg_toast'
       ${
         tables === undefined
           ? sql``
           : // As arrays of names (an InitPlan each), which the view's indexes can use; a row comparison against a
             // subquery made PostgreSQL read all of pg_stats first.
             sql`and tablename = any(array(select c.relname from pg_catalog.pg_class c where true ${tables}))
                 and schemaname = any(array(select n.nspname from pg_catalog.pg_class c
                                              join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                                             where true ${tables}))`
       }
  )`;

export interface TableBloatInputRow {
  oid: number;
  liveRows: number;
  reltuples: number;
  modSinceAnalyze: number;
  fillfactor: number;
  statsVisible: boolean;
  columns: ColumnInput[];
}

/** What the heap estimate needs besides sizes, for every user table (or these), from the catalog and statistics. */
export function tableBloatInputsQuery(sql: Tx, oids?: number[]) {
  return sql<TableBloatInputRow[]>`
    with /* pgscope */ ${statsCte(sql, oids && only(sql, sql`c.oid`, oids))},
    -- Columns of every table concerned in one grouped pass (hash join with the statistics), in attribute order.
    cols as (
      select a.attrelid,
             json_agg(json_build_object('typlen', t.typlen, 'typalign', t.typalign,
                                        'avgWidth', s.avg_width, 'nullFrac', s.null_frac) order by a.attnum) as columns
        from pg_catalog.pg_attribute a
        join pg_catalog.pg_class c on c.oid = a.attrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_type t on t.oid = a.atttypid
        left join stats s
          on s.schemaname = n.nspname and s.tablename = c.relname and s.attname = a.attname and not s.inherited
       where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'm') and ${userNamespace(sql)}
         ${only(sql, sql`c.oid`, oids)}
       group by a.attrelid
    )
    select c.oid::int8 as oid,
           ${liveRows(sql, sql`c.oid`)} as "liveRows",
           greatest(c.reltuples, 0)::float8 as reltuples,
           pg_catalog.pg_stat_get_mod_since_analyze(c.oid) as "modSinceAnalyze",
           coalesce((select option_value::int from pg_catalog.pg_options_to_table(c.reloptions)
                      where option_name = 'fillfactor'), 100) as fillfactor,
           pg_catalog.has_table_privilege(c.oid, 'SELECT') as "statsVisible",
           coalesce(cols.columns, '[]') as columns
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      left join cols on cols.attrelid = c.oid
     where c.relkind in ('r', 'm') and c.relpersistence <> 't' and ${userNamespace(sql)}
       ${only(sql, sql`c.oid`, oids)}`;
}

export interface IndexBloatInputRow {
  oid: number;
  amname: string;
  relkind: string;
  rows: number;
  indexReltuples: number;
  tableReltuples: number;
  tableModSinceAnalyze: number;
  fillfactor: number;
  unique: boolean;
  partial: boolean;
  expression: boolean;
  statsVisible: boolean;
  dedupCapable: boolean;
  columns: (ColumnInput & { nDistinct: number | null })[];
}

/** Types whose btree equality is image equality, so PostgreSQL 13+ can deduplicate them. */
const DEDUP_TYPES = [
  'int2',
  'int4',
  'int8',
  'oid',
  'date',
  'time',
  'timestamp',
  'timestamptz',
  'bool',
  'uuid',
  'text',
  'varchar',
  'bpchar',
  'name',
  'char',
];

/** What the btree estimate needs besides sizes, for every user index (or these). */
export function indexBloatInputsQuery(sql: Tx, oids?: number[]) {
  const tables =
    oids &&
    sql`and c.oid in (select indrelid from pg_catalog.pg_index
                       where indexrelid = any(${`{${oids.join(',')}}`}::oid[]))`;
  return sql<IndexBloatInputRow[]>`
    with /* pgscope */ ${statsCte(sql, tables)},
    -- Key columns of every index concerned in one grouped pass: a table column's statistics, or for an
    -- expression the index's own (ANALYZE keeps them under the index's name).
    keys as (
      select i.indexrelid,
             json_agg(json_build_object('typlen', ty.typlen, 'typalign', ty.typalign, 'avgWidth', s.avg_width,
                                        'nullFrac', s.null_frac, 'nDistinct', s.n_distinct) order by ia.attnum) as columns
        from pg_catalog.pg_index i
        join pg_catalog.pg_class c on c.oid = i.indexrelid
        join pg_catalog.pg_class t on t.oid = i.indrelid
        join pg_catalog.pg_namespace n on n.oid = t.relnamespace
        join pg_catalog.pg_attribute ia on ia.attrelid = i.indexrelid and ia.attnum between 1 and i.indnkeyatts
        join pg_catalog.pg_type ty on ty.oid = ia.atttypid
        left join pg_catalog.pg_attribute ta on ta.attrelid = i.indrelid and ta.attnum = i.indkey[ia.attnum - 1]
        left join stats s
          on s.schemaname = n.nspname and not s.inherited
         and s.tablename = case when i.indkey[ia.attnum - 1] > 0 then t.relname else c.relname end
         and s.attname = case when i.indkey[ia.attnum - 1] > 0 then ta.attname else ia.attname end
       where t.relpersistence <> 't' and ${userNamespace(sql)}
         ${only(sql, sql`i.indexrelid`, oids)}
       group by i.indexrelid
    )
    select i.indexrelid::int8 as oid, am.amname, c.relkind::text as relkind,
           ${liveRows(sql, sql`i.indrelid`)} as rows,
           greatest(c.reltuples, 0)::float8 as "indexReltuples",
           greatest(t.reltuples, 0)::float8 as "tableReltuples",
           pg_catalog.pg_stat_get_mod_since_analyze(i.indrelid) as "tableModSinceAnalyze",
           coalesce((select option_value::int from pg_catalog.pg_options_to_table(c.reloptions)
                      where option_name = 'fillfactor'), 90) as fillfactor,
           i.indisunique as unique, i.indpred is not null as partial, i.indexprs is not null as expression,
           pg_catalog.has_table_privilege(i.indrelid, 'SELECT') as "statsVisible",
           not exists (
             select 1 from pg_catalog.pg_attribute ia
               join pg_catalog.pg_type ty on ty.oid = ia.atttypid
               left join pg_catalog.pg_collation co on co.oid = ia.attcollation
              where ia.attrelid = i.indexrelid and ia.attnum between 1 and i.indnkeyatts
                and (ty.typname::text not in (select jsonb_array_elements_text(${sql.json(DEDUP_TYPES)}))
                     or coalesce(not co.collisdeterministic, false))
           ) as "dedupCapable",
           coalesce(keys.columns, '[]') as columns
      from pg_catalog.pg_index i
      join pg_catalog.pg_class c on c.oid = i.indexrelid
      join pg_catalog.pg_class t on t.oid = i.indrelid
      join pg_catalog.pg_namespace n on n.oid = t.relnamespace
      join pg_catalog.pg_am am on am.oid = c.relam
      left join keys on keys.indexrelid = i.indexrelid
     where t.relpersistence <> 't' and ${userNamespace(sql)}
       ${only(sql, sql`i.indexrelid`, oids)}`;
}

export interface MeasuredTableRow {
  tableLen: number;
  tupleCount: number;
  tupleLen: number;
  fillfactor: number;
}

/**
 * pgstattuple: an exact scan of the heap. pgstattuple_approx was tried first and read a half-deleted table 13 points
 * low: for all-visible pages it counts everything but free space as tuple bytes, including the line pointers the
 * deleted rows left behind.
 */
export function measureTableQuery(sql: Tx, schema: string, oid: number) {
  return sql<MeasuredTableRow[]>`
    select /* pgscope */ m.table_len as "tableLen", m.tuple_count::float8 as "tupleCount",
           m.tuple_len as "tupleLen",
           coalesce((select option_value::int from pg_catalog.pg_options_to_table(c.reloptions)
                      where option_name = 'fillfactor'), 100) as fillfactor
      from ${sql(schema)}.pgstattuple(${oid}::oid::regclass) m, pg_catalog.pg_class c
     where c.oid = ${oid}::oid`;
}

export interface MeasuredIndexRow {
  indexSize: number;
  leafPages: number;
  internalPages: number;
  emptyPages: number;
  deletedPages: number;
  avgLeafDensity: number;
  fillfactor: number;
}

/** pgstatindex: reads the whole btree. */
export function measureIndexQuery(sql: Tx, schema: string, oid: number) {
  return sql<MeasuredIndexRow[]>`
    select /* pgscope */ s.index_size as "indexSize", s.leaf_pages as "leafPages", s.internal_pages as "internalPages",
           s.empty_pages as "emptyPages", s.deleted_pages as "deletedPages", s.avg_leaf_density::float8 as "avgLeafDensity",
           coalesce((select option_value::int from pg_catalog.pg_options_to_table(c.reloptions)
                      where option_name = 'fillfactor'), 90) as fillfactor
      from ${sql(schema)}.pgstatindex(${oid}::oid::regclass) s, pg_catalog.pg_class c
     where c.oid = ${oid}::oid`;
}
