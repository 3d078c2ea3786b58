import { Tx } from './database.provider';

export interface ServerInfoRow {
  versionNum: number;
  version: string;
  currentDatabase: string;
  currentUser: string;
  pgStatStatementsPreloaded: boolean;
  pgMonitor: boolean;
  superuser: boolean;
  extensions: { name: string; version: string; schema: string }[];
}

/**
 * One round trip for everything pgscope needs to know about the server. Preloading of pg_stat_statements is
 * read from pg_settings (its postmaster-level GUC only exists when the library was preloaded), because
 * shared_preload_libraries itself is hidden from roles without pg_read_all_settings.
 */
export function serverInfoQuery(sql: Tx) {
  return sql<ServerInfoRow[]>`
    select /* pgscope */ current_setting('server_version_num')::int as "versionNum",
           version() as version,
           current_database() as "currentDatabase",
           current_user as "currentUser",
           exists (select 1 from pg_catalog.pg_settings
                    where name = 'pg_stat_statements.max' and vartype = 'integer') as "pgStatStatementsPreloaded",
           pg_catalog.pg_has_role(current_user, 'pg_monitor', 'USAGE') as "pgMonitor",
           coalesce((select rolsuper from pg_catalog.pg_roles where rolname = current_user), false) as superuser,
           coalesce((select json_agg(json_build_object('name', e.extname, 'version', e.extversion, 'schema', n.nspname)
                                     order by e.extname)
                       from pg_catalog.pg_extension e
                       join pg_catalog.pg_namespace n on n.oid = e.extnamespace), '[]'::json) as extensions`;
}

/** One extension of the current database (pg_extension's unique index on extname). */
export function extensionQuery(sql: Tx, name: string) {
  return sql<{ version: string; schema: string }[]>`
    select /* pgscope */ e.extversion as version, n.nspname as schema
      from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
     where e.extname = ${name}`;
}
