-- Several pgscope instances sharing this store (issue 23). Each target is collected by the instance holding its
-- lease: a row renewed by its holder before `expires_at` (the store's clock decides, never an instance's). A write
-- of a target's snapshot reads its lease row FOR SHARE in the same transaction: an instance that lost the lease
-- cannot write, and a takeover waits for a write in flight to commit. Keyed by target first, like every table here,
-- so leases sit on the same shard as the target's rows (Citus: distributed by target_id; `instances` a reference
-- table).
create table leases (
  target_id smallint primary key,
  holder text not null,
  since timestamptz not null,
  expires_at timestamptz not null,
  -- Takeovers (another instance taking it while held) since the row was made; a release deletes the row.
  moves integer not null default 0
);

-- The instances, each renewing its row with its leases; live: renewed within the lease time.
create table instances (
  id text primary key,
  host text not null,
  pid integer not null,
  version text not null,
  started_at timestamptz not null,
  heartbeat_at timestamptz not null
);

-- Which instance wrote a snapshot: collection exactly once is counted from the store.
alter table snapshots add column instance text;
