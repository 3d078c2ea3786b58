import { Tx } from '../../database/database.provider';

export interface OverviewRow {
  version: string;
  startedAt: Date;
  uptimeSeconds: number;
  maxConnections: number;
  isInRecovery: boolean;
  trackIoTiming: boolean;
  trackActivityQuerySize: number;
  computeQueryId: string | null;
}

export function overviewQuery(sql: Tx) {
  // compute_query_id exists from 14: current_setting(..., true) gives NULL before.
  return sql<OverviewRow[]>`
    select /* pgscope */ current_setting('server_version') as version,
           pg_postmaster_start_time() as "startedAt",
           extract(epoch from clock_timestamp() - pg_postmaster_start_time())::float8 as "uptimeSeconds",
           current_setting('max_connections')::int as "maxConnections",
           pg_is_in_recovery() as "isInRecovery",
           current_setting('track_io_timing')::bool as "trackIoTiming",
           pg_size_bytes(current_setting('track_activity_query_size'))::int as "trackActivityQuerySize",
           current_setting('compute_query_id', true) as "computeQueryId"`;
}

/** pg_database_size walks the database's directory (a stat per file): read at the slower cadence. */
export function databaseSizeQuery(sql: Tx) {
  return sql<{ bytes: number | null }[]>`
    select /* pgscope */ case when has_database_privilege(current_database(), 'CONNECT')
                              then pg_database_size(current_database()) end as bytes`;
}
