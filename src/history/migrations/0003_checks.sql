-- Check status changes, as reported (after damping): the history behind GET /checks/events.
create table check_events (
  at timestamptz not null,
  target_id smallint not null,
  database text,
  check_id text not null,
  status text not null,
  previous text,
  value double precision
);
create index check_events_at on check_events (target_id, at);
