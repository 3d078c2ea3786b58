-- pgscope's history store. Every table is keyed by the target first, so that the store can be distributed by
-- target (Citus: create_distributed_table(..., 'target_id')) without a schema change. Data tables are partitioned
-- by day on `at` (the watched server's clock at the snapshot): retention drops whole partitions. Counters are the
-- deltas of one interval, NULL where they did not move (a NULL costs a bit, an int8 eight bytes); a row exists
-- only for an entry that moved. A snapshot's rows are written together, so a block holds one target's rows of one
-- moment: a BRIN index on (target_id, at) with small ranges finds a target's window without a btree's bytes.

create table targets (
  id smallint generated always as identity primary key,
  name text not null unique,
  -- statement_hourly (statement_daily) holds every full hour (day) before this one: the rollups' watermarks.
  hourly_through timestamptz,
  daily_through timestamptz
);

-- One row per collection of one family (of one database, for the per-database families), written in the same
-- transaction as its rows: a snapshot is whole or absent.
create table snapshots (
  target_id smallint not null,
  family text not null,
  dbid oid not null default 0,
  at timestamptz not null,
  -- The database's name, for the per-database families.
  datname text,
  -- The snapshot whose values this one's deltas are taken against; null: a baseline (no deltas).
  prev_at timestamptz,
  duration_ms real not null,
  rows integer not null,
  server_version text,
  -- pg_stat_statements' version (1.11 = 111): which of its columns the deltas have.
  extension_version integer,
  postmaster_start timestamptz,
  system_id text,
  timeline integer,
  stats_reset timestamptz,
  dealloc bigint,
  -- pg_stat_statements entries evicted during the interval (dealloc moved) or found re-created.
  evicted bigint,
  primary key (target_id, family, dbid, at)
);

-- Intervals whose counters are unknown: a broken counter lifetime, or no collection.
create table gaps (
  target_id smallint not null,
  family text not null,
  dbid oid not null default 0,
  from_at timestamptz not null,
  to_at timestamptz not null,
  reason text not null,
  primary key (target_id, family, dbid, from_at, reason)
);

create table statement_deltas (
  at timestamptz not null,
  queryid bigint not null,
  calls bigint,
  exec_ms double precision,
  plan_ms double precision,
  plans bigint,
  rows bigint,
  shared_hit bigint,
  shared_read bigint,
  shared_dirtied bigint,
  shared_written bigint,
  local_hit bigint,
  local_read bigint,
  temp_read bigint,
  temp_written bigint,
  read_ms double precision,
  write_ms double precision,
  wal_records bigint,
  wal_bytes bigint,
  jit_functions bigint,
  jit_ms double precision,
  dbid oid not null,
  userid oid not null,
  target_id smallint not null,
  toplevel boolean
) partition by range (at);
create index statement_deltas_at on statement_deltas using brin (target_id, at) with (pages_per_range = 8);

-- Full hours of statement_deltas summed, for windows longer than two days.
create table statement_hourly (like statement_deltas) partition by range (at);
create index statement_hourly_at on statement_hourly using brin (target_id, at) with (pages_per_range = 8);

-- Full days of statement_hourly summed, for the interior of windows of weeks.
create table statement_daily (like statement_deltas) partition by range (at);
create index statement_daily_at on statement_daily using brin (target_id, at) with (pages_per_range = 8);

-- A statement's text, names and when pgscope first saw it (texts as QUERY_TEXT allows: redacted, or none at all).
create table statement_texts (
  target_id smallint not null,
  dbid oid not null,
  userid oid not null,
  queryid bigint not null,
  datname text,
  rolname text,
  query text,
  first_seen timestamptz not null,
  primary key (target_id, dbid, userid, queryid)
);

create table database_deltas (
  at timestamptz not null,
  xact_commit bigint,
  xact_rollback bigint,
  blks_read bigint,
  blks_hit bigint,
  tup_returned bigint,
  tup_fetched bigint,
  tup_inserted bigint,
  tup_updated bigint,
  tup_deleted bigint,
  temp_files bigint,
  temp_bytes bigint,
  deadlocks bigint,
  dbid oid not null,
  target_id smallint not null,
  datname text not null
) partition by range (at);
create index database_deltas_at on database_deltas using brin (target_id, at) with (pages_per_range = 8);

create table relation_deltas (
  at timestamptz not null,
  seq_scan bigint,
  seq_tup_read bigint,
  idx_scan bigint,
  idx_tup_read bigint,
  idx_tup_fetch bigint,
  n_tup_ins bigint,
  n_tup_upd bigint,
  n_tup_del bigint,
  heap_hit bigint,
  heap_read bigint,
  idx_hit bigint,
  idx_read bigint,
  toast_hit bigint,
  toast_read bigint,
  toast_idx_hit bigint,
  toast_idx_read bigint,
  dbid oid not null,
  relid oid not null,
  target_id smallint not null
) partition by range (at);
create index relation_deltas_at on relation_deltas using brin (target_id, at) with (pages_per_range = 8);

-- Sizes are levels, not counters: a row when a size changed since the relation's previous one (relid 0: the
-- database itself).
create table relation_sizes (
  at timestamptz not null,
  bytes bigint,
  total_bytes bigint,
  reclaimable_bytes bigint,
  dbid oid not null,
  relid oid not null,
  target_id smallint not null
) partition by range (at);
create index relation_sizes_at on relation_sizes using brin (target_id, at) with (pages_per_range = 8);
create index relation_sizes_rel on relation_sizes (target_id, dbid, relid, at);

-- The names of the relations of the rows above, as last seen.
create table relations (
  target_id smallint not null,
  dbid oid not null,
  relid oid not null,
  kind "char" not null,
  -- An index's table; 0 for tables.
  table_relid oid not null default 0,
  -- A table with a TOAST table (its TOAST figures are then not null).
  toast boolean not null default false,
  schema text not null,
  name text not null,
  last_seen timestamptz not null,
  -- When a snapshot first missed it (dropped); null while it exists.
  gone_at timestamptz,
  primary key (target_id, dbid, relid)
);
