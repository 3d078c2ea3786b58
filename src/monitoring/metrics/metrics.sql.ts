import { Tx } from '../../database/database.provider';

export interface MiscRow {
  inRecovery: boolean;
  uptime: number;
  archiveMode: string;
  archived: number;
  failed: number;
  lastArchived: Date | null;
  lastFailed: Date | null;
}

/** Role, uptime and the archiver, in one statement. */
export function miscQuery(sql: Tx) {
  return sql<MiscRow[]>`
    select /* pgscope */ pg_catalog.pg_is_in_recovery() as "inRecovery",
           extract(epoch from now() - pg_catalog.pg_postmaster_start_time())::float8 as uptime,
           current_setting('archive_mode') as "archiveMode", a.archived_count::int8 as archived,
           a.failed_count::int8 as failed, a.last_archived_time as "lastArchived", a.last_failed_time as "lastFailed"
      from pg_catalog.pg_stat_archiver a`;
}

export interface DatabaseCountersRow {
  database: string;
  xidAge: number;
  mxidAge: number;
  conflicts: number | null;
  checksumFailures: number | null;
  commits: number;
  rollbacks: number;
  blksHit: number;
  blksRead: number;
  tupReturned: number;
  tupFetched: number;
  tupInserted: number;
  tupUpdated: number;
  tupDeleted: number;
  tempFiles: number;
  tempBytes: number;
  deadlocks: number;
}

/**
 * pg_stat_database of every database (the counters /metrics exposes as counters: rate() works on them), with each
 * database's XID and multixact ages, in one statement.
 */
export function databaseCountersQuery(sql: Tx) {
  return sql<DatabaseCountersRow[]>`
    select /* pgscope */ s.datname as database, age(d.datfrozenxid)::int8 as "xidAge",
           mxid_age(d.datminmxid)::int8 as "mxidAge", s.conflicts::int8 as conflicts,
           s.checksum_failures::int8 as "checksumFailures",
           xact_commit::int8 as commits, xact_rollback::int8 as rollbacks,
           blks_hit::int8 as "blksHit", blks_read::int8 as "blksRead", tup_returned::int8 as "tupReturned",
           tup_fetched::int8 as "tupFetched", tup_inserted::int8 as "tupInserted", tup_updated::int8 as "tupUpdated",
           tup_deleted::int8 as "tupDeleted", temp_files::int8 as "tempFiles", temp_bytes::int8 as "tempBytes",
           deadlocks::int8 as deadlocks
      from pg_catalog.pg_stat_database s
      join pg_catalog.pg_database d on d.oid = s.datid
     order by s.datname
     limit 10000`;
}

export interface StatementCountersRow {
  queryid: string;
  calls: number;
  execMs: number;
}

/**
 * The top `limit` statements by total execution time (entries of one queryid summed over users and databases), and
 * the whole of pg_stat_statements in the last row (queryid null): what the top leaves out is whole minus top.
 * Texts are not read (pg_stat_statements(false)).
 */
export function statementCountersQuery(sql: Tx, schema: string, limit: number) {
  return sql<(StatementCountersRow & { queryid: string | null; entries: number })[]>`
    with /* pgscope */ s as (
      select queryid, sum(calls)::int8 as calls, sum(total_exec_time)::float8 as "execMs"
        from ${sql(schema)}.pg_stat_statements(false)
       where queryid is not null
       group by queryid
    ),
    top as (select queryid::text, calls, "execMs", 1 as entries from s order by "execMs" desc, queryid limit ${limit})
    select * from top
    union all
    select null, coalesce(sum(calls), 0)::int8, coalesce(sum("execMs"), 0)::float8, count(*)::int from s`;
}

export interface TableRow {
  oid: number;
  schema: string;
  table: string;
  deadTuples: number | null;
  seqScans: number | null;
  idxScans: number | null;
}

/** Names and counters of the tables the metrics name (the largest, by the sizes the API already keeps). */
export function tablesQuery(sql: Tx, oids: number[]) {
  return sql<TableRow[]>`
    select /* pgscope */ c.oid::int8 as oid, n.nspname as schema, c.relname as "table",
           s.n_dead_tup::int8 as "deadTuples", s.seq_scan::int8 as "seqScans", s.idx_scan::int8 as "idxScans"
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      left join pg_catalog.pg_stat_all_tables s on s.relid = c.oid
     where c.oid = any(${`{${oids.join(',')}}`}::oid[])
     order by c.oid
     limit 10000`;
}

export interface IndexCountsRow {
  indexes: number;
  invalid: number;
  unused: number;
  tables: number;
}

/** Index and table counts of this database: all, invalid, never scanned (not backing a constraint). */
export function indexCountsQuery(sql: Tx) {
  return sql<IndexCountsRow[]>`
    select /* pgscope */
           (select count(*) from pg_catalog.pg_index i join pg_catalog.pg_class c on c.oid = i.indrelid
              join pg_catalog.pg_namespace n on n.oid = c.relnamespace
             where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast')::int8 as indexes,
           (select count(*) from pg_catalog.pg_index i join pg_catalog.pg_class c on c.oid = i.indrelid
              join pg_catalog.pg_namespace n on n.oid = c.relnamespace
             where not i.indisvalid and n.nspname not in ('pg_catalog', 'information_schema'))::int8 as invalid,
           (select count(*) from pg_catalog.pg_stat_user_indexes s join pg_catalog.pg_index i on i.indexrelid = s.indexrelid
             where s.idx_scan = 0 and not i.indisunique and not i.indisprimary)::int8 as unused,
           (select count(*) from pg_catalog.pg_stat_user_tables)::int8 as tables`;
}
