import type postgres from 'postgres';
import { Tx } from '../../database/database.provider';

export interface LockedRelation {
  oid: number;
  schema: string;
  name: string;
}

/**
 * Relations with an ACCESS EXCLUSIVE lock held or requested in this database. Anything that opens them (size
 * functions, pg_get_indexdef, pg_get_expr with a relation) would queue behind it, so that work is skipped.
 */
export function lockedRelationsQuery(sql: Tx) {
  return sql<LockedRelation[]>`
    select /* pgscope */ distinct l.relation::int8 as oid, n.nspname as schema, c.relname as name
      from pg_catalog.pg_locks l
      join pg_catalog.pg_class c on c.oid = l.relation
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where l.locktype = 'relation' and l.mode = 'AccessExclusiveLock'
       and l.database = (select oid from pg_catalog.pg_database where datname = current_database())
     order by 2, 3`;
}

/** The locked relation oids as a set of rows, from one json parameter. */
export const lockedSet = (sql: Tx, locked: number[]) =>
  sql`(select (x #>> '{}')::oid from jsonb_array_elements(${sql.json(locked as never)}) x)`;

/** User schemas only: never the catalogs, TOAST or other sessions' temporary schemas. */
export const userNamespace = (sql: Tx) => sql`
  n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast' and n.nspname !~ '^pg_temp_'`;

export interface ScopeFilter {
  schema?: string;
  table?: string;
}

/** `and` clauses for the schema (alias n) and table filters. */
export const relationFilter = (sql: Tx, f: ScopeFilter, tableAlias: postgres.Fragment) => sql`
  ${f.schema !== undefined ? sql`and n.nspname = ${f.schema}` : sql``}
  ${f.table !== undefined ? sql`and ${tableAlias}.relname = ${f.table}` : sql``}`;

/** pg_stat_database.stats_reset of the current database: the counters of this database cover the time since. */
export function statsResetQuery(sql: Tx) {
  return sql<{ statsReset: Date | null; statsAgeSeconds: number | null }[]>`
    select /* pgscope */ stats_reset as "statsReset",
           extract(epoch from statement_timestamp() - stats_reset)::float8 as "statsAgeSeconds"
      from pg_catalog.pg_stat_database where datname = current_database()`;
}

/** Array literals already built, per rows array: figures change once per cadence, not per request. */
const literals = new WeakMap<object, string[]>();

/**
 * Rows of (oid, values…) from one array literal per column: a figure per relation passed to the server in a few
 * parameters, parsed once (40,000 values in about 12 ms), instead of one parameter per value. The literals of a rows
 * array are built once and kept with it.
 */
export function oidValues(sql: Tx, rows: [number, ...(number | null)[]][], columns: string[]) {
  let built = literals.get(rows);
  if (!built) {
    built = Array.from({ length: columns.length + 1 }, (_, i) => `{${rows.map((r) => r[i] ?? 'NULL').join(',')}}`);
    literals.set(rows, built);
  }
  const arrays = columns.map((_, i) => sql`${built[i + 1]}::int8[]`);
  const list = arrays.reduce((acc, a) => sql`${acc}, ${a}`, sql`${built[0]}::oid[]`);
  return sql`(select * from unnest(${list}) as v(oid, ${sql.unsafe(columns.map((c) => `"${c}"`).join(', '))}))`;
}

export interface RelationSizeRow {
  oid: number;
  kind: 'table' | 'index';
  /** Main fork (pg_relation_size); null when locked. For a partitioned index, the sum over its partitions. */
  bytes: number | null;
  /** Tables: heap, indexes and TOAST (pg_total_relation_size); null for indexes or when locked. */
  totalBytes: number | null;
  /** Tables: the TOAST table's main fork; 0 without one. */
  toastBytes: number | null;
}

/**
 * The size of every user table and index in one pass, skipping relations under an ACCESS EXCLUSIVE lock (opening
 * them would queue behind it). Each size opens the relation, which is what makes sizes costly on large catalogues:
 * pgscope reads them at most once per SIZES_MAX_AGE_MS, not per request.
 */
export function relationSizesQuery(sql: Tx, locked: number[], only?: number[]) {
  return sql<RelationSizeRow[]>`
    with /* pgscope */ locked as (${lockedSet(sql, locked)}),
    rel as materialized (
      select c.oid, c.relkind, c.reltoastrelid,
             (c.oid in (select * from locked)
               or (c.relkind = 'i' and exists (select 1 from pg_catalog.pg_index i
                                                where i.indexrelid = c.oid and i.indrelid in (select * from locked)))
             ) as locked,
             -- pg_total_relation_size opens every index and the TOAST table as well.
             (c.relkind in ('r', 'm') and (c.reltoastrelid in (select * from locked)
               or exists (select 1 from pg_catalog.pg_index i
                           where i.indrelid = c.oid and i.indexrelid in (select * from locked)))) as parts_locked
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'm', 'i', 'I') and c.relpersistence <> 't' and ${userNamespace(sql)}
         ${only ? sql`and c.oid = any(${`{${only.join(',')}}`}::oid[])` : sql``}
    )
    select r.oid::int8 as oid, case when r.relkind in ('i', 'I') then 'index' else 'table' end as kind,
           case when r.locked then null
                when r.relkind = 'I'
                then (select coalesce(sum(pg_catalog.pg_relation_size(h.inhrelid)), 0)::int8
                        from pg_catalog.pg_inherits h where h.inhparent = r.oid and h.inhrelid not in (select * from locked))
                else pg_catalog.pg_relation_size(r.oid) end as bytes,
           case when r.relkind in ('r', 'm') and not r.locked and not r.parts_locked
                then pg_catalog.pg_total_relation_size(r.oid) end as "totalBytes",
           case when r.relkind not in ('r', 'm') then null
                when r.reltoastrelid = 0 then 0
                when r.reltoastrelid not in (select * from locked) then pg_catalog.pg_relation_size(r.reltoastrelid)
           end as "toastBytes"
      from rel r
     order by r.oid`;
}
