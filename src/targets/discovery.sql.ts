import { Tx } from '../database/database.provider';

/** The databases of a server pgscope may watch: connectable, not templates, and CONNECT granted to its role. */
export function connectableDatabasesQuery(sql: Tx) {
  return sql<{ name: string }[]>`
    select /* pgscope */ datname as name
      from pg_catalog.pg_database
     where datallowconn and not datistemplate and pg_catalog.has_database_privilege(datname, 'CONNECT')
     order by datname`;
}
