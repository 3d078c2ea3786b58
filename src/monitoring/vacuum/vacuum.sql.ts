import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';

/**
 * Transactions (and multixacts) kept between the wraparound limit and the point where the server refuses to assign
 * new ones: varsup.c / multixact.c, 3,000,000 since PostgreSQL 14 (1,000,000 XIDs and 100 multixacts before).
 */
export function stopMargins(major: number): { xid: number; mxid: number } {
  return major >= 14 ? { xid: 3_000_000, mxid: 3_000_000 } : { xid: 1_000_000, mxid: 100 };
}

/** Half the XID space: the age at which a value would wrap (MaxTransactionId >> 1). */
export const WRAP_AGE = 2 ** 31 - 1;

export interface DatabaseAgeRow {
  name: string;
  xidAge: number;
  mxidAge: number;
  freezeMaxAge: number;
  multixactFreezeMaxAge: number;
  allowsConnections: boolean;
}

/** Every database of the server: how old its oldest unfrozen XID and multixact are. */
export function databaseAgesQuery(sql: Tx) {
  return sql<DatabaseAgeRow[]>`
    select /* pgscope */ d.datname as name, age(d.datfrozenxid)::int8 as "xidAge",
           mxid_age(d.datminmxid)::int8 as "mxidAge",
           current_setting('autovacuum_freeze_max_age')::int8 as "freezeMaxAge",
           current_setting('autovacuum_multixact_freeze_max_age')::int8 as "multixactFreezeMaxAge",
           d.datallowconn as "allowsConnections"
      from pg_catalog.pg_database d
     order by age(d.datfrozenxid) desc, d.datname
     limit 10000`;
}

export interface TableVacuumRow {
  schema: string;
  table: string;
  reltuples: number;
  xidAge: number;
  mxidAge: number;
  liveTuples: number | null;
  deadTuples: number | null;
  modsSinceAnalyze: number | null;
  insertsSinceVacuum: number | null;
  hasStats: boolean;
  enabled: boolean;
  autovacuumOn: boolean;
  vacuumThreshold: number;
  vacuumBase: number;
  vacuumScaleFactor: number;
  vacuumMaxThreshold: number | null;
  insertThreshold: number | null;
  insertBase: number;
  insertScaleFactor: number;
  unfrozenShare: number | null;
  analyzeThreshold: number;
  analyzeBase: number;
  analyzeScaleFactor: number;
  freezeMaxAge: number;
  multixactFreezeMaxAge: number;
  overrides: string[];
  lastVacuum: Date | null;
  lastAutovacuum: Date | null;
  lastAnalyze: Date | null;
  lastAutoanalyze: Date | null;
  vacuumCount: number | null;
  autovacuumCount: number | null;
  analyzeCount: number | null;
  autoanalyzeCount: number | null;
  urgency: number;
}

export interface TableFilters {
  schema?: string;
  table?: string;
  limit: number;
}

/**
 * The tables and materialized views of this database with autovacuum's own arithmetic (autovacuum.c,
 * relation_needs_vacanalyze): thresholds in float4 as PostgreSQL computes them, each setting from the table's
 * reloptions where it has one, else the server's; reltuples < 0 (never vacuumed nor analyzed, 14+) counts as 0. 18
 * caps the vacuum threshold at autovacuum_vacuum_max_threshold and scales the insert threshold by the unfrozen share
 * of the table's pages. Ordered by urgency in SQL: the largest of each counter over its threshold (1 = due).
 */
export function tablesVacuumQuery(sql: Tx, major: number, f: TableFilters) {
  const insertSettings = forVersions(major, {
    13: sql`current_setting('autovacuum_vacuum_insert_threshold')::int8 as ins_base,
            current_setting('autovacuum_vacuum_insert_scale_factor')::float8 as ins_sf`,
  });
  const maxThreshold = forVersions(major, {
    13: sql`null::int8`,
    18: sql`coalesce(o.vmt, current_setting('autovacuum_vacuum_max_threshold')::int8)`,
  });
  const unfrozen = forVersions(major, {
    13: sql`null::float8`,
    18: sql`case when c.relpages > 0 and c.relallfrozen > 0
                 then (1 - least(c.relallfrozen, c.relpages)::real / c.relpages::real)::float8 else 1 end`,
  });
  return sql<TableVacuumRow[]>`
    with /* pgscope */ t as (
      select n.nspname as schema, c.relname as "table", greatest(c.reltuples, 0)::real as reltuples,
             age(c.relfrozenxid)::int8 as "xidAge", mxid_age(c.relminmxid)::int8 as "mxidAge",
             s.n_live_tup as "liveTuples", s.n_dead_tup as "deadTuples",
             s.n_mod_since_analyze as "modsSinceAnalyze", s.n_ins_since_vacuum as "insertsSinceVacuum",
             s.relid is not null as "hasStats",
             coalesce(o.enabled, true) and current_setting('autovacuum')::bool as enabled,
             current_setting('autovacuum')::bool as "autovacuumOn",
             coalesce(o.vt, current_setting('autovacuum_vacuum_threshold')::int8) as "vacuumBase",
             coalesce(o.vsf, current_setting('autovacuum_vacuum_scale_factor')::float8) as "vacuumScaleFactor",
             ${maxThreshold} as "vacuumMaxThreshold",
             coalesce(o.it, g.ins_base) as "insertBase",
             coalesce(o.isf, g.ins_sf) as "insertScaleFactor",
             ${unfrozen} as "unfrozenShare",
             coalesce(o.at, current_setting('autovacuum_analyze_threshold')::int8) as "analyzeBase",
             coalesce(o.asf, current_setting('autovacuum_analyze_scale_factor')::float8) as "analyzeScaleFactor",
             least(coalesce(o.fma, 2147483647), current_setting('autovacuum_freeze_max_age')::int8) as "freezeMaxAge",
             least(coalesce(o.mfma, 2147483647), current_setting('autovacuum_multixact_freeze_max_age')::int8)
               as "multixactFreezeMaxAge",
             o.overrides,
             s.last_vacuum as "lastVacuum", s.last_autovacuum as "lastAutovacuum",
             s.last_analyze as "lastAnalyze", s.last_autoanalyze as "lastAutoanalyze",
             s.vacuum_count as "vacuumCount", s.autovacuum_count as "autovacuumCount",
             s.analyze_count as "analyzeCount", s.autoanalyze_count as "autoanalyzeCount"
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        left join pg_catalog.pg_stat_all_tables s on s.relid = c.oid
        cross join (select ${insertSettings}) g
        cross join lateral (
          select bool_or(case when x.option_name = 'autovacuum_enabled' then x.option_value::bool end) as enabled,
                 max(case when x.option_name = 'autovacuum_vacuum_threshold' then x.option_value::int8 end) as vt,
                 max(case when x.option_name = 'autovacuum_vacuum_scale_factor' then x.option_value::float8 end) as vsf,
                 max(case when x.option_name = 'autovacuum_vacuum_max_threshold' then x.option_value::int8 end) as vmt,
                 max(case when x.option_name = 'autovacuum_vacuum_insert_threshold' then x.option_value::int8 end) as it,
                 max(case when x.option_name = 'autovacuum_vacuum_insert_scale_factor' then x.option_value::float8 end)
                   as isf,
                 max(case when x.option_name = 'autovacuum_analyze_threshold' then x.option_value::int8 end) as at,
                 max(case when x.option_name = 'autovacuum_analyze_scale_factor' then x.option_value::float8 end) as asf,
                 max(case when x.option_name = 'autovacuum_freeze_max_age' then x.option_value::int8 end) as fma,
                 max(case when x.option_name = 'autovacuum_multixact_freeze_max_age' then x.option_value::int8 end)
                   as mfma,
                 coalesce(json_agg(x.option_name || '=' || x.option_value order by x.option_name)
                            filter (where x.option_name like 'autovacuum%'), '[]') as overrides
            from pg_catalog.pg_options_to_table(c.reloptions) x
        ) o
       where c.relkind in ('r', 'm')
         and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
         and (${f.schema ?? null}::text is null or n.nspname = ${f.schema ?? null})
         and (${f.table ?? null}::text is null or c.relname = ${f.table ?? null})
    ),
    th as (
      -- float4, as autovacuum computes them.
      select t.*,
             case when "vacuumMaxThreshold" is not null and "vacuumMaxThreshold" >= 0
                  then least(("vacuumBase"::real + "vacuumScaleFactor"::real * reltuples), "vacuumMaxThreshold"::real)
                  else ("vacuumBase"::real + "vacuumScaleFactor"::real * reltuples) end::float8 as "vacuumThreshold",
             case when "insertBase" >= 0
                  then ("insertBase"::real
                        + "insertScaleFactor"::real * reltuples * coalesce("unfrozenShare", 1)::real)::float8
             end as "insertThreshold",
             ("analyzeBase"::real + "analyzeScaleFactor"::real * reltuples)::float8 as "analyzeThreshold"
        from t
    )
    select th.*, reltuples::float8 as reltuples,
           greatest("xidAge"::float8 / nullif("freezeMaxAge", 0), "mxidAge"::float8 / nullif("multixactFreezeMaxAge", 0),
                    coalesce("deadTuples", 0) / nullif("vacuumThreshold", 0),
                    coalesce("insertsSinceVacuum", 0) / nullif("insertThreshold", 0),
                    coalesce("modsSinceAnalyze", 0) / nullif("analyzeThreshold", 0), 0)::float8 as urgency
      from th
     order by ("xidAge" > "freezeMaxAge" or "mxidAge" > "multixactFreezeMaxAge") desc, urgency desc, schema, "table"
     limit ${f.limit}`;
}

export interface HolderRow {
  kind: 'session' | 'replication_slot' | 'prepared_transaction' | 'standby';
  pid: number | null;
  name: string | null;
  database: string | null;
  user: string | null;
  application: string | null;
  state: string | null;
  xminAge: number | null;
  xidAge: number | null;
  catalogXminAge: number | null;
  since: Date | null;
  active: boolean | null;
  slotType: string | null;
  clientAddr: string | null;
}

/**
 * Everything that holds the xmin horizon back, cluster-wide: sessions (backend_xmin, backend_xid), replication slots
 * (xmin, catalog_xmin), prepared transactions, and standbys reporting an xmin through hot_standby_feedback. pgscope's
 * own sessions are left out. Oldest first; bounded.
 */
export function horizonQuery(sql: Tx, major: number) {
  const inactiveSince = forVersions(major, { 13: sql`null::timestamptz`, 17: sql`r.inactive_since` });
  return sql<HolderRow[]>`
    select /* pgscope */ * from (
      select 'session' as kind, a.pid, null::text as name, a.datname::text as database, a.usename::text as "user",
             a.application_name as application, a.state, age(a.backend_xmin)::int8 as "xminAge",
             age(a.backend_xid)::int8 as "xidAge", null::int8 as "catalogXminAge", a.xact_start as since,
             null::bool as active, a.backend_type as "slotType", null::text as "clientAddr"
        from pg_catalog.pg_stat_activity a
       where (a.backend_xmin is not null or a.backend_xid is not null)
         and a.pid <> pg_catalog.pg_backend_pid()
         and a.application_name is distinct from current_setting('application_name')
         and a.backend_type is distinct from 'walsender'
      union all
      select 'replication_slot', r.active_pid, r.slot_name::text, r.database::text, null, null, null,
             age(r.xmin)::int8, null, age(r.catalog_xmin)::int8, ${inactiveSince}, r.active, r.slot_type, null
        from pg_catalog.pg_replication_slots r
       where r.xmin is not null or r.catalog_xmin is not null
      union all
      select 'prepared_transaction', null, p.gid, p.database::text, p.owner::text, null, null, null,
             age(p.transaction)::int8, null, p.prepared, null, null, null
        from pg_catalog.pg_prepared_xacts p
      union all
      select 'standby', s.pid, s.application_name, null, s.usename::text, s.application_name, s.state,
             age(s.backend_xmin)::int8, null, null, s.reply_time, null, null, host(s.client_addr)
        from pg_catalog.pg_stat_replication s
       where s.backend_xmin is not null
    ) h
    order by greatest(coalesce("xminAge", 0), coalesce("xidAge", 0), coalesce("catalogXminAge", 0)) desc, kind, pid
    limit 100`;
}

export interface ProgressRow {
  command: string;
  pid: number;
  database: string | null;
  relation: string | null;
  phase: string | null;
  done: number | null;
  total: number | null;
  unit: string;
  startedAt: Date | null;
  elapsedMs: number | null;
  user: string | null;
  application: string | null;
}

/**
 * Every long operation running now, from the pg_stat_progress_* views: its phase, what is done of what total (the
 * counters the view has for the phase), and when it started (pg_stat_activity.query_start). The relation is named
 * when it lies in this database (an OID of another database means nothing here).
 */
export function progressQuery(sql: Tx, major: number) {
  const rel = (alias: string) =>
    sql.unsafe(`case when ${alias}.datid = (select oid from pg_catalog.pg_database where datname = current_database())
                     then ${alias}.relid::regclass::text end`);
  const copy = forVersions(major, {
    13: sql``,
    14: sql`union all
      select 'COPY', p.pid, p.datname::text, ${rel('p')}, p.command || ' ' || p.type,
             case when p.bytes_total > 0 then p.bytes_processed else p.tuples_processed end,
             nullif(p.bytes_total, 0), case when p.bytes_total > 0 then 'bytes' else 'tuples' end
        from pg_catalog.pg_stat_progress_copy p`,
  });
  return sql<ProgressRow[]>`
    select /* pgscope */ w.*, a.query_start as "startedAt",
           (extract(epoch from clock_timestamp() - a.query_start) * 1000)::float8 as "elapsedMs",
           a.usename::text as "user", a.application_name as application
      from (
        select 'VACUUM' as command, p.pid, p.datname::text as database, ${rel('p')} as relation, p.phase,
               case when p.phase = 'vacuuming heap' then p.heap_blks_vacuumed else p.heap_blks_scanned end as done,
               nullif(p.heap_blks_total, 0) as total, 'blocks' as unit
          from pg_catalog.pg_stat_progress_vacuum p
        union all
        select 'ANALYZE', p.pid, p.datname::text, ${rel('p')}, p.phase, p.sample_blks_scanned,
               nullif(p.sample_blks_total, 0), 'blocks'
          from pg_catalog.pg_stat_progress_analyze p
        union all
        select p.command, p.pid, p.datname::text, ${rel('p')}, p.phase,
               case when p.blocks_total > 0 then p.blocks_done else p.tuples_done end,
               coalesce(nullif(p.blocks_total, 0), nullif(p.tuples_total, 0)),
               case when p.blocks_total > 0 then 'blocks' else 'tuples' end
          from pg_catalog.pg_stat_progress_create_index p
        union all
        select p.command, p.pid, p.datname::text, ${rel('p')}, p.phase, p.heap_blks_scanned,
               nullif(p.heap_blks_total, 0), 'blocks'
          from pg_catalog.pg_stat_progress_cluster p
        ${copy}
        union all
        select 'BASE_BACKUP', p.pid, null, null, p.phase, p.backup_streamed, p.backup_total, 'bytes'
          from pg_catalog.pg_stat_progress_basebackup p
      ) w
      left join pg_catalog.pg_stat_activity a on a.pid = w.pid
     order by a.query_start nulls last, w.pid
     limit 1000`;
}

export interface SequenceRow {
  schema: string;
  name: string;
  dataType: string;
  lastValue: number | null;
  minValue: number;
  maxValue: number;
  increment: number;
  cycle: boolean;
  readable: boolean;
  share: number | null;
}

/**
 * Sequences of this database nearest their end: how far last_value has gone from its start to the end it moves
 * toward (maxvalue ascending, minvalue descending). pg_sequences gives null last_value for a sequence the role may
 * not read (and for one never called): `readable` tells the two apart.
 */
export function sequencesQuery(sql: Tx, limit: number) {
  return sql<SequenceRow[]>`
    select /* pgscope */ * from (
      select s.schemaname::text as schema, s.sequencename::text as name, s.data_type::text as "dataType",
             s.last_value::float8 as "lastValue", s.min_value::float8 as "minValue", s.max_value::float8 as "maxValue",
             s.increment_by::float8 as increment, s.cycle,
             pg_catalog.has_sequence_privilege(c.oid, 'SELECT') or pg_catalog.has_sequence_privilege(c.oid, 'USAGE')
               as readable,
             case when s.last_value is null then null
                  when s.increment_by > 0 then (s.last_value::numeric - s.min_value) / nullif(s.max_value::numeric - s.min_value, 0)
                  else (s.max_value::numeric - s.last_value) / nullif(s.max_value::numeric - s.min_value, 0)
             end::float8 as share
        from pg_catalog.pg_sequences s
        join pg_catalog.pg_namespace n on n.nspname = s.schemaname
        join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = s.sequencename
    ) q
    order by share desc nulls last, schema, name
    limit ${limit}`;
}
