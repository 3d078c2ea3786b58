import { Tx } from '../database/database.provider';
import { forVersions } from '../database/pg-version';

/** One session counted by a sample. */
export interface SampledSession {
  /** c: client backend (a parallel worker counts as its leader's statement), v: autovacuum worker, i: idle in transaction. */
  kind: 'c' | 'v' | 'i';
  parallel: boolean;
  waitType: string | null;
  waitEvent: string | null;
  queryId: string | null;
  query: string | null;
  database: string | null;
  user: string | null;
  application: string | null;
}

/** A lock chain as one sample sees it: its root blocker and what waits behind it. */
export interface SampledChain {
  rootPid: number;
  rootBackendStart: Date | null;
  xactStart: Date | null;
  user: string | null;
  application: string | null;
  state: string | null;
  queryId: string | null;
  query: string | null;
  waiting: number;
  longestWaitMs: number | null;
  holds: string | null;
}

export interface Sample {
  at: Date;
  maxConnections: number;
  sessions: SampledSession[];
  chains: SampledChain[];
}

/**
 * The sessions that are load now, in one read of pg_stat_activity: active client backends, parallel workers (under
 * their leader's statement and client), autovacuum workers, and sessions idle in a transaction; never idle ones, nor
 * pgscope's own. An active session waiting on nothing instrumented is `CPU`. Bounded by max_connections.
 */
export function sessionsSampleQuery(sql: Tx, major: number) {
  const queryId = forVersions(major, { 13: sql`null::text`, 14: sql`coalesce(a.query_id, l.query_id)::text` });
  // Without a query_id the text (of the leader for a parallel worker) stands for the statement: always on 13, and on
  // 14+ while a statement has none yet (one waiting for a lock on a relation its parse analysis opens).
  const query = forVersions(major, {
    13: sql`coalesce(l.query, a.query)`,
    14: sql`case when coalesce(a.query_id, l.query_id) is null then coalesce(l.query, a.query) end`,
  });
  return sql<(SampledSession & { at: Date; maxConnections: number })[]>`
    select /* pgscope */ statement_timestamp() as at, current_setting('max_connections')::int as "maxConnections",
           case when a.backend_type = 'autovacuum worker' then 'v'
                when a.state like 'idle in transaction%' then 'i' else 'c' end as kind,
           a.backend_type = 'parallel worker' as parallel,
           case when a.state = 'active' then coalesce(a.wait_event_type, 'CPU') end as "waitType",
           case when a.state = 'active' then coalesce(a.wait_event, 'CPU') end as "waitEvent",
           ${queryId} as "queryId", ${query} as query,
           coalesce(a.datname, l.datname) as database, coalesce(a.usename, l.usename) as "user",
           coalesce(nullif(a.application_name, ''), l.application_name) as application
      from pg_catalog.pg_stat_activity a
      left join pg_catalog.pg_stat_activity l on a.leader_pid is not null and l.pid = a.leader_pid and l.pid <> a.pid
     where a.pid <> pg_catalog.pg_backend_pid()
       and a.application_name is distinct from current_setting('application_name')
       and (a.state = 'active' or a.state like 'idle in transaction%')
       and (a.backend_type in ('client backend', 'autovacuum worker', 'parallel worker')
            -- Other roles' sessions without pg_monitor: no backend_type, but a user.
            or (a.backend_type is null and a.usesysid is not null))
     limit 100000`;
}

/**
 * The lock chains of this moment: each root blocker (a blocker that waits on no lock itself) with the number of
 * sessions waiting behind it, directly or not, the longest of their waits, and what they wait for that it holds.
 * Read only when a session waits on a lock (pg_blocking_pids and pg_locks are not free).
 */
export function chainsSampleQuery(sql: Tx, major: number) {
  const waitStart = forVersions(major, {
    13: sql`a.query_start`,
    14: sql`coalesce((select min(k.waitstart) from pg_catalog.pg_locks k where k.pid = a.pid and not k.granted), a.query_start)`,
  });
  const queryId = forVersions(major, { 13: sql`null::text`, 14: sql`r.query_id::text` });
  return sql<SampledChain[]>`
    with recursive /* pgscope */ waits as materialized (
      select a.pid, pg_catalog.pg_blocking_pids(a.pid) as blockers, ${waitStart} as wait_start
        from pg_catalog.pg_stat_activity a where a.wait_event_type = 'Lock'
    ),
    edges as (select w.pid as waiter, b.blocker from waits w cross join lateral unnest(w.blockers) b(blocker)),
    reach (root, waiter) as (
      select blocker, waiter from edges
      union
      select r.root, e.waiter from reach r join edges e on e.blocker = r.waiter
    ),
    roots as (
      select root, count(distinct waiter)::int as waiting from reach
       where root not in (select waiter from edges)
       group by root
    )
    select s.root as "rootPid", r.backend_start as "rootBackendStart", r.xact_start as "xactStart",
           r.usename as "user", r.application_name as application, r.state, ${queryId} as "queryId", r.query,
           s.waiting,
           (select max(extract(epoch from statement_timestamp() - w.wait_start) * 1000)::float8
              from waits w where w.pid in (select waiter from reach x where x.root = s.root)) as "longestWaitMs",
           (select string_agg(distinct
                     case when h.locktype = 'relation' then 'relation ' || h.relation::regclass::text
                          when h.locktype = 'transactionid' then 'transaction ' || h.transactionid::text
                          else h.locktype end || ' (' || h.mode || ')', ', ')
              from pg_catalog.pg_locks h
              join pg_catalog.pg_locks q on not q.granted and q.pid in (select waiter from edges e where e.blocker = s.root)
                   and q.locktype = h.locktype and q.database is not distinct from h.database
                   and q.relation is not distinct from h.relation and q.transactionid is not distinct from h.transactionid
                   and q.virtualxid is not distinct from h.virtualxid and q.objid is not distinct from h.objid
             where h.pid = s.root and h.granted) as holds
      from roots s
      left join pg_catalog.pg_stat_activity r on r.pid = s.root
     order by s.waiting desc, s.root
     limit 100`;
}
