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
