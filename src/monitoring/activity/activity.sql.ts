import type postgres from 'postgres';
import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';
import { SortOrder } from '../../http/query';

export const ACTIVITY_ORDER_BY = ['queryDuration', 'transactionDuration', 'backendStart', 'pid'] as const;
export type ActivityOrderBy = (typeof ACTIVITY_ORDER_BY)[number];

export interface ActivityFilters {
  states?: string[];
  database?: string;
  user?: string;
  application?: string;
  minDurationMs?: number;
  waiting?: boolean;
  blocked?: boolean;
  blocking?: boolean;
  /** 'client backend' (default), 'all', or one backend_type. */
  backendType: string;
  excludeSelf: boolean;
  orderBy: ActivityOrderBy;
  order: SortOrder;
  limit: number;
}

export interface SessionRow {
  pid: number;
  leaderPid: number | null;
  database: string | null;
  user: string | null;
  applicationName: string | null;
  clientAddr: string | null;
  clientPort: number | null;
  backendType: string | null;
  state: string | null;
  waitEventType: string | null;
  waitEvent: string | null;
  backendStart: Date | null;
  transactionStart: Date | null;
  queryStart: Date | null;
  stateChange: Date | null;
  queryDurationMs: number | null;
  transactionDurationMs: number | null;
  stateDurationMs: number | null;
  backendXid: number | null;
  backendXminAge: number | null;
  queryId: string | null;
  query: string | null;
  hidden: boolean;
  queryTruncated: boolean;
  blockedBy: number[];
  blocking: number[];
  blockedCount: number;
}

export interface SummaryRow {
  totalConnections: number;
  maxConnections: number;
  reservedConnections: number;
  blockedSessions: number;
  longestQueryMs: number | null;
  longestTransactionMs: number | null;
  longestIdleInTransactionMs: number | null;
  oldestBackendXminAge: number | null;
  hiddenSessions: number;
  byState: { state: string | null; count: number }[];
  byWaitEventType: { waitEventType: string | null; count: number }[];
}

/**
 * pg_stat_activity once (a consistent snapshot for the whole transaction), lock waits and the blocking graph.
 * pg_blocking_pids() is costly, so it runs only for sessions waiting on a heavyweight lock.
 */
function activityCte(sql: Tx, major: number) {
  const queryId = forVersions(major, { 13: sql`null::text`, 14: sql`a.query_id::text` });
  return sql`
    with recursive /* pgscope */ act as materialized (
      select a.pid, a.leader_pid, a.datname, a.usename, a.usesysid, a.application_name,
             host(a.client_addr) as client_addr, nullif(a.client_port, -1) as client_port,
             a.backend_type, a.state, a.wait_event_type, a.wait_event,
             a.backend_start, a.xact_start, a.query_start, a.state_change,
             a.backend_xid, a.backend_xmin, ${queryId} as query_id, a.query,
             -- Without pg_monitor, other roles' client backends show backend_type NULL but a user.
             (a.backend_type = 'client backend' or (a.backend_type is null and a.usesysid is not null)) as is_client,
             a.query = '<insufficient privilege>' as hidden,
             (a.pid = pg_backend_pid() or a.application_name = current_setting('application_name')) as is_self
        from pg_catalog.pg_stat_activity a
    ),
    waits as (
      select pid, pg_catalog.pg_blocking_pids(pid) as blockers from act where wait_event_type = 'Lock'
    ),
    edges as (
      select w.pid as waiter, b.blocker from waits w cross join lateral unnest(w.blockers) as b(blocker)
    ),
    reach (root, waiter) as (
      select blocker, waiter from edges
      union
      select r.root, e.waiter from reach r join edges e on e.blocker = r.waiter
    )`;
}

/** Milliseconds from `from` to the start of this statement, never negative. */
const ms = (sql: Tx, from: postgres.Fragment) =>
  sql`(case when ${from} is not null then greatest(0, extract(epoch from statement_timestamp() - ${from}) * 1000) end)::float8`;

export function sessionsQuery(sql: Tx, major: number, f: ActivityFilters) {
  const dir = f.order === 'asc' ? sql`asc` : sql`desc`;
  const orderBy = {
    queryDuration: sql`query_duration_ms ${dir} nulls last, pid`,
    transactionDuration: sql`transaction_duration_ms ${dir} nulls last, pid`,
    backendStart: sql`backend_start ${dir} nulls last, pid`,
    pid: sql`pid ${dir}`,
  }[f.orderBy];
  const none = sql``;
  const backendType =
    f.backendType === 'all'
      ? none
      : f.backendType === 'client backend'
        ? sql`and is_client`
        : sql`and backend_type = ${f.backendType}`;
  return sql<SessionRow[]>`
    ${activityCte(sql, major)},
    page as (
      select s.*,
             case when s.state = 'active' then ${ms(sql, sql`s.query_start`)} end as query_duration_ms,
             ${ms(sql, sql`s.xact_start`)} as transaction_duration_ms,
             ${ms(sql, sql`s.state_change`)} as state_duration_ms
        from act s
       where true ${backendType}
         ${f.excludeSelf ? sql`and not is_self` : none}
         ${f.states?.length ? sql`and state in ${sql(f.states)}` : none}
         ${f.database !== undefined ? sql`and datname = ${f.database}` : none}
         ${f.user !== undefined ? sql`and usename = ${f.user}` : none}
         ${f.application !== undefined ? sql`and application_name = ${f.application}` : none}
         ${
           f.minDurationMs !== undefined
             ? sql`and state = 'active' and query_start <= statement_timestamp() - make_interval(secs => ${f.minDurationMs}::float8 / 1000)`
             : none
         }
         ${f.waiting !== undefined ? sql`and (coalesce(wait_event_type, '') = 'Lock') = ${f.waiting}` : none}
         ${f.blocked !== undefined ? sql`and exists (select 1 from edges e where e.waiter = s.pid) = ${f.blocked}` : none}
         ${f.blocking !== undefined ? sql`and exists (select 1 from edges e where e.blocker = s.pid) = ${f.blocking}` : none}
       order by ${orderBy}
       limit ${f.limit}
    )
    select p.pid, p.leader_pid as "leaderPid", p.datname as database, p.usename as "user",
           p.application_name as "applicationName", p.client_addr as "clientAddr", p.client_port as "clientPort",
           p.backend_type as "backendType", p.state, p.wait_event_type as "waitEventType", p.wait_event as "waitEvent",
           p.backend_start as "backendStart", p.xact_start as "transactionStart", p.query_start as "queryStart",
           p.state_change as "stateChange", p.query_duration_ms as "queryDurationMs",
           p.transaction_duration_ms as "transactionDurationMs", p.state_duration_ms as "stateDurationMs",
           p.backend_xid::text::int8 as "backendXid", age(p.backend_xmin)::int8 as "backendXminAge",
           p.query_id as "queryId", p.query, p.hidden,
           -- The text is cut at track_activity_query_size - 1 bytes, a multibyte character earlier at most.
           octet_length(p.query) >= pg_size_bytes(current_setting('track_activity_query_size')) - 1
             - (pg_catalog.pg_encoding_max_length(pg_catalog.pg_char_to_encoding(current_setting('server_encoding'))) - 1)
             as "queryTruncated",
           coalesce((select json_agg(e.blocker order by e.blocker) from edges e where e.waiter = p.pid), '[]') as "blockedBy",
           coalesce((select json_agg(e.waiter order by e.waiter) from edges e where e.blocker = p.pid), '[]') as "blocking",
           (select count(distinct r.waiter) from reach r where r.root = p.pid)::int as "blockedCount"
      from page p
     order by ${orderBy}`;
}

/** Over every session of the server, whatever the filters. */
export function summaryQuery(sql: Tx, major: number) {
  return sql<SummaryRow[]>`
    ${activityCte(sql, major)}
    select count(*) filter (where is_client)::int as "totalConnections",
           current_setting('max_connections')::int as "maxConnections",
           (current_setting('superuser_reserved_connections')::int
             + coalesce(current_setting('reserved_connections', true)::int, 0)) as "reservedConnections",
           (select count(*) from waits where cardinality(blockers) > 0)::int as "blockedSessions",
           max(${ms(sql, sql`query_start`)}) filter (where is_client and state = 'active' and not is_self) as "longestQueryMs",
           max(${ms(sql, sql`xact_start`)}) filter (where is_client and not is_self) as "longestTransactionMs",
           max(${ms(sql, sql`state_change`)}) filter (where is_client and state like 'idle in transaction%')
             as "longestIdleInTransactionMs",
           max(age(backend_xmin))::int8 as "oldestBackendXminAge",
           count(*) filter (where hidden and is_client)::int as "hiddenSessions",
           coalesce((select json_agg(json_build_object('state', state, 'count', n) order by n desc, state)
                       from (select state, count(*) as n from act where is_client group by state) s), '[]') as "byState",
           coalesce((select json_agg(json_build_object('waitEventType', wait_event_type, 'count', n)
                                     order by n desc, wait_event_type)
                       from (select wait_event_type, count(*) as n from act where is_client group by wait_event_type) w),
                    '[]') as "byWaitEventType"
      from act`;
}
