-- Database load: the samples of pg_stat_activity, aggregated in memory into buckets of LOAD_BUCKET_SECONDS and
-- written once per bucket. A row is one combination of dimensions in one bucket: `sessions` is the sum over the
-- bucket's samples of the sessions that had it, so that sessions / samples (load_ticks) is the average.

-- One row per bucket sampled: how many samples it holds (the divisor of every average in it).
create table load_ticks (
  at timestamptz not null,
  target_id smallint not null,
  samples smallint not null,
  skipped smallint not null default 0,
  -- max_connections then: the line a load chart must stay under.
  max_connections integer,
  primary key (target_id, at)
) partition by range (at);

create table load_buckets (
  at timestamptz not null,
  queryid bigint,
  sessions integer not null,
  target_id smallint not null,
  -- c: client backend, p: parallel worker (under its leader's statement), v: autovacuum worker, i: idle in
  -- transaction
  kind "char" not null,
  -- CPU for an active session that waits on nothing instrumented
  wait_type text,
  wait_event text,
  datname text,
  usename text,
  application text,
  -- Without a query_id (PostgreSQL 13; on 14+ a statement not yet parsed, e.g. waiting for a relation lock) the
  -- statement's text, its literals redacted, stands for it.
  query text
) partition by range (at);
create index load_buckets_at on load_buckets using brin (target_id, at) with (pages_per_range = 8);

-- The lock chains seen in a bucket: one row per root blocker (once per chain per bucket, not per sample).
create table lock_chains (
  at timestamptz not null,
  first_seen timestamptz not null,
  last_seen timestamptz not null,
  root_backend_start timestamptz,
  xact_start timestamptz,
  queryid bigint,
  longest_wait_ms double precision,
  root_pid integer not null,
  waiting integer not null,
  target_id smallint not null,
  usename text,
  application text,
  state text,
  query text,
  -- What the waiters wait for that the root holds: "relation public.orders (RowExclusiveLock)", …
  holds text
) partition by range (at);
create index lock_chains_at on lock_chains using brin (target_id, at) with (pages_per_range = 8);
