import { Inject, Injectable } from '@nestjs/common';
import { InvalidParameterError } from '../../common/errors';
import { Env } from '../../config/env';
import { HistoryService } from '../../history/history.service';
import { StoreSql } from '../../history/store';
import { Window } from '../../history/window';
import { Rollup, statementRollups, windowCoverage, windowRows } from '../../history/window-read';
import { likeContains, withDefaults } from '../../http/query';
import { Target } from '../../targets/target';
import { windowedMeta } from '../shared/meta.dto';
import { StatementDto, STATEMENTS_DEFAULTS, StatementsQueryDto, StatementsResponseDto } from './statements.dto';
import { StatementsOrderBy } from './statements.sql';

interface WindowRow {
  queryid: string;
  toplevel: boolean | null;
  database: string | null;
  user: string | null;
  query: string | null;
  calls: number;
  rows: number;
  exec_ms: number;
  plan_ms: number;
  plans: number;
  shared_hit: number;
  shared_read: number;
  shared_dirtied: number;
  shared_written: number;
  local_hit: number;
  local_read: number;
  temp_read: number;
  temp_written: number;
  read_ms: number;
  write_ms: number;
  wal_records: number;
  wal_bytes: number;
  jit_functions: number;
  jit_ms: number;
  n: number;
  total_calls: number;
  total_exec: number;
  total_plan: number;
  grand: number | null;
}

/** Window sums of every column of statement_deltas (a NULL is a counter that did not move). */
const SUMS = [
  'calls',
  'rows',
  'exec_ms',
  'plan_ms',
  'plans',
  'shared_hit',
  'shared_read',
  'shared_dirtied',
  'shared_written',
  'local_hit',
  'local_read',
  'temp_read',
  'temp_written',
  'read_ms',
  'write_ms',
  'wal_records',
  'wal_bytes',
  'jit_functions',
  'jit_ms',
];

/** The store's sort keys of each orderBy; maxExecTime has no delta (pg_stat_statements keeps it since the entry's start). */
const ORDER_KEY: Record<StatementsOrderBy, string> = {
  totalExecTime: 'exec_ms',
  meanExecTime: 'exec_ms / nullif(calls, 0)',
  maxExecTime: 'null::float8',
  calls: 'calls',
  rows: 'rows',
  sharedBlksRead: 'shared_read',
  tempBlksWritten: 'temp_written',
  walBytes: 'wal_bytes',
  totalPlanTime: 'plan_ms',
  ioTime: '(read_ms + write_ms)',
};

/**
 * /statements over a window, from the history store: every counter the sum of the window's deltas, per entry, with
 * the same filters, order and paging as the live answer. Read from the store alone: the watched server is not asked
 * (a server that is down now still has its history).
 */
@Injectable()
export class StatementsHistory {
  constructor(
    private readonly history: HistoryService,
    @Inject(Env) private readonly env: Env,
  ) {}

  async list(target: Target, given: StatementsQueryDto, window: Window): Promise<StatementsResponseDto> {
    const started = performance.now();
    const store = this.history.store;
    const query = withDefaults(STATEMENTS_DEFAULTS, given);
    if (query.search !== undefined && this.env.QUERY_TEXT !== 'full') {
      throw InvalidParameterError.of(
        'search',
        `is disabled because QUERY_TEXT=${this.env.QUERY_TEXT}: its matches would reveal the texts it hides`,
      );
    }
    const targetId = await store.targetId(target.name);
    const coverage = await windowCoverage(
      store,
      { targetId, family: 'statements', dbids: [0], intervalMs: this.env.HISTORY_STATEMENTS_INTERVAL },
      window,
    );
    const ext = coverage.extensionVersion ?? 0;
    if (query.toplevel !== undefined && coverage.extensionVersion !== null && ext < 109) {
      throw InvalidParameterError.of('toplevel', 'needs pg_stat_statements 1.9 (PostgreSQL 14) or later');
    }
    const rows = await store.read(async (sql) =>
      windowQuery(sql, targetId, window, await statementRollups(sql, targetId), query),
    );
    const page = rows.filter((r) => r.queryid !== null);
    const first = rows[0];
    // Columns the extension lacks are null, as in the live answer.
    const since = (version: number, value: number) => (ext >= version ? value : null);
    const covered = coverage.meta.coveredSeconds;
    const perSecond = (v: number) => (covered > 0 ? v / covered : null);
    const statements = page.map((r): StatementDto => {
      const blocks = r.shared_hit + r.shared_read;
      return {
        queryId: r.queryid,
        query: r.query,
        database: r.database,
        user: r.user,
        toplevel: ext >= 109 ? r.toplevel : null,
        calls: r.calls,
        rows: r.rows,
        totalExecTimeMs: r.exec_ms,
        meanExecTimeMs: r.calls > 0 ? r.exec_ms / r.calls : 0,
        minExecTimeMs: null,
        maxExecTimeMs: null,
        stddevExecTimeMs: null,
        totalPlanTimeMs: since(108, r.plan_ms),
        plans: since(108, r.plans),
        percentOfTotalTime: r.grand ? (100 * r.exec_ms) / r.grand : null,
        sharedBlksHit: r.shared_hit,
        sharedBlksRead: r.shared_read,
        sharedBlksDirtied: r.shared_dirtied,
        sharedBlksWritten: r.shared_written,
        cacheHitRatio: blocks > 0 ? r.shared_hit / blocks : null,
        localBlksHit: r.local_hit,
        localBlksRead: r.local_read,
        tempBlksRead: r.temp_read,
        tempBlksWritten: r.temp_written,
        blkReadTimeMs: r.read_ms,
        blkWriteTimeMs: r.write_ms,
        walRecords: since(108, r.wal_records),
        walBytes: since(108, r.wal_bytes),
        jitFunctions: since(110, r.jit_functions),
        jitTimeMs: since(110, r.jit_ms),
        statsSince: null,
        callsPerSecond: perSecond(r.calls),
        execTimeMsPerSecond: perSecond(r.exec_ms),
      };
    });
    return {
      meta: windowedMeta(coverage, started),
      statsReset: coverage.statsReset?.toISOString() ?? null,
      deallocations: ext >= 109 ? coverage.meta.evictions : null,
      totals: {
        statements: first?.n ?? 0,
        calls: first?.total_calls ?? 0,
        totalExecTimeMs: first?.total_exec ?? 0,
        totalPlanTimeMs: ext >= 108 ? (first?.total_plan ?? 0) : null,
      },
      queryText: this.env.QUERY_TEXT,
      statements,
    };
  }
}

/** The page of the window's entries, the totals over those matching the filters, and every entry's exec time. */
function windowQuery(
  sql: StoreSql,
  targetId: number,
  window: Window,
  rollups: Rollup[],
  f: ReturnType<typeof withDefaults<StatementsQueryDto, typeof STATEMENTS_DEFAULTS>>,
) {
  const none = sql``;
  const sums = sql.unsafe(SUMS.map((c) => `coalesce(sum(${c}), 0) as ${c}`).join(', '));
  const dir = f.order === 'asc' ? 'asc' : 'desc';
  // Keys and directions from fixed lists, never from a client.
  const orderBy = sql.unsafe(`${ORDER_KEY[f.orderBy]} ${dir} nulls last, queryid, userid, dbid, toplevel`);
  const pattern = f.search !== undefined ? likeContains(f.search) : undefined;
  return sql<WindowRow[]>`
    with w as (
      select dbid, userid, queryid, toplevel, ${sums}
        from ${windowRows(sql, 'statement_deltas', targetId, window, rollups)} d
       group by dbid, userid, queryid, toplevel
    ),
    grand as (select sum(exec_ms)::float8 as t from w),
    f as (
      select w.*, x.datname as database, x.rolname as "user", x.query
        from w
        left join statement_texts x
          on x.target_id = ${targetId} and x.dbid = w.dbid and x.userid = w.userid and x.queryid = w.queryid
       where true
         ${f.database !== undefined ? sql`and x.datname = ${f.database}` : none}
         ${f.user !== undefined ? sql`and x.rolname = ${f.user}` : none}
         ${f.queryId !== undefined ? sql`and w.queryid = ${f.queryId}::int8` : none}
         ${f.minCalls !== undefined ? sql`and w.calls >= ${f.minCalls}` : none}
         ${f.toplevel !== undefined ? sql`and w.toplevel = ${f.toplevel}` : none}
         ${pattern !== undefined ? sql`and x.query ilike ${pattern}` : none}
    ),
    totals as (
      select count(*)::int8 as n, coalesce(sum(calls), 0)::int8 as total_calls,
             coalesce(sum(exec_ms), 0)::float8 as total_exec, coalesce(sum(plan_ms), 0)::float8 as total_plan
        from f
    ),
    page as (
      select *, row_number() over (order by ${orderBy}) as rn from f order by ${orderBy} limit ${f.limit} offset ${f.offset}
    )
    select p.queryid::text as queryid, p.toplevel, p.database, p."user", p.query,
           ${sql.unsafe(SUMS.map((c) => `p.${c}`).join(', '))},
           t.n, t.total_calls, t.total_exec, t.total_plan, (select t from grand) as grand
      from totals t
      left join page p on true
     order by p.rn`;
}
