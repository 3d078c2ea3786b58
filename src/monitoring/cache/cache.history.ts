import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { databaseOid } from '../../history/databases';
import { HistoryService } from '../../history/history.service';
import { StoreSql } from '../../history/store';
import { Window } from '../../history/window';
import { windowCoverage, WindowCoverage, windowRows } from '../../history/window-read';
import { withDefaults } from '../../http/query';
import { Target } from '../../targets/target';
import { windowedMeta } from '../shared/meta.dto';
import { CACHE_DEFAULTS, CacheQueryDto, CacheResponseDto } from './cache.dto';
import { CacheService } from './cache.service';
import { CacheFilters, CacheRow } from './cache.sql';

/**
 * /cache over a window, from the history store alone: every ratio from the window's block-counter deltas (tables
 * and indexes from the relations family, the database and the cluster from the database family), the filters,
 * order and limits of the live answer. pg_buffercache has no history: buffers is null.
 */
@Injectable()
export class CacheHistory {
  constructor(
    private readonly history: HistoryService,
    private readonly cache: CacheService,
    @Inject(Env) private readonly env: Env,
  ) {}

  async get(target: Target, query: CacheQueryDto, window: Window): Promise<CacheResponseDto> {
    const started = performance.now();
    const store = this.history.store;
    const filters: CacheFilters = withDefaults(CACHE_DEFAULTS, query);
    const targetId = await store.targetId(target.name);
    const { datname, dbid } = await databaseOid(store, target, query.database);
    const relations = await windowCoverage(
      store,
      { targetId, family: 'relations', dbids: [dbid ?? -1], intervalMs: this.env.HISTORY_RELATIONS_INTERVAL },
      window,
    );
    const database = await windowCoverage(
      store,
      { targetId, family: 'database', dbids: [0, dbid ?? -1], intervalMs: this.env.HISTORY_DATABASE_INTERVAL },
      window,
    );
    const { db, value, sized } = await store.read(async (sql) => ({
      db: await databaseSums(sql, targetId, dbid ?? -1, window),
      value: await relationSums(sql, targetId, dbid ?? -1, window, filters),
      sized: await sizesAt(sql, targetId, dbid ?? -1, window),
    }));
    const coverage = merge(relations, database);
    return {
      meta: windowedMeta(coverage, started),
      statsReset: relations.statsReset?.toISOString() ?? null,
      sizesCollectedAt: (sized ?? coverage.lastAt ?? new Date()).toISOString(),
      ...this.cache.present({ name: datname, ...db }, value),
      buffers: null,
    };
  }
}

/** The relations family's coverage, with the database family's gaps too (its figures are in the answer). */
function merge(relations: WindowCoverage, database: WindowCoverage): WindowCoverage {
  const seen = new Set<string>();
  const gaps = [...relations.meta.gaps, ...database.meta.gaps]
    .filter((g) => {
      const key = `${g.from} ${g.to} ${g.reason}`;
      return !seen.has(key) && seen.add(key);
    })
    .sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  return {
    ...relations,
    serverVersion: relations.serverVersion ?? database.serverVersion,
    lastAt: relations.lastAt ?? database.lastAt,
    meta: { ...relations.meta, gaps },
  };
}

async function databaseSums(sql: StoreSql, targetId: number, dbid: number, window: Window) {
  const [row] = await sql<{ blksHit: number; blksRead: number; clusterBlksHit: number; clusterBlksRead: number }[]>`
    select coalesce(sum(blks_hit) filter (where dbid = ${dbid}), 0)::int8 as "blksHit",
           coalesce(sum(blks_read) filter (where dbid = ${dbid}), 0)::int8 as "blksRead",
           coalesce(sum(blks_hit), 0)::int8 as "clusterBlksHit",
           coalesce(sum(blks_read), 0)::int8 as "clusterBlksRead"
      from ${windowRows(sql, 'database_deltas', targetId, window)} d`;
  return row;
}

/** When the newest sizes of the window were read. */
async function sizesAt(sql: StoreSql, targetId: number, dbid: number, window: Window): Promise<Date | null> {
  const [row] = await sql<{ at: Date | null }[]>`
    select max(at) as at from snapshots
     where target_id = ${targetId} and family = 'sizes' and dbid = ${dbid} and at <= ${window.to}`;
  return row.at;
}

/**
 * The totals over every table in scope and the pages of tables and indexes, as the live query has them: a table's
 * index and TOAST figures are null where it has none, the sizes the newest at or before the window's end.
 */
async function relationSums(
  sql: StoreSql,
  targetId: number,
  dbid: number,
  window: Window,
  f: CacheFilters,
): Promise<CacheRow> {
  const dir = f.order === 'asc' ? 'asc' : 'desc';
  const ratio = (hit: string, read: string) => `(${hit})::float8 / nullif(${hit} + ${read}, 0)`;
  const reads = '(heap_read + coalesce(idx_read, 0) + coalesce(toast_read, 0) + coalesce(tidx_read, 0))';
  // Keys and directions from fixed lists, never from a client.
  const tableKey = sql.unsafe(
    {
      hitRatio: `${ratio('heap_hit', 'heap_read')} ${dir} nulls last`,
      reads: `${reads} ${dir}`,
      size: `size_bytes ${dir} nulls last`,
      name: `schema ${dir}, "table" ${dir}`,
    }[f.orderBy],
  );
  const indexKey = sql.unsafe(
    {
      hitRatio: `${ratio('hit', 'read')} ${dir} nulls last`,
      reads: `read ${dir}`,
      size: `size_bytes ${dir} nulls last`,
      name: `schema ${dir}, "table" ${dir}, index ${dir}`,
    }[f.orderBy],
  );
  const none = sql``;
  const [row] = await sql<CacheRow[]>`
    with sums as materialized (
      select relid, coalesce(sum(heap_hit), 0)::int8 as heap_hit, coalesce(sum(heap_read), 0)::int8 as heap_read,
             coalesce(sum(idx_hit), 0)::int8 as idx_hit, coalesce(sum(idx_read), 0)::int8 as idx_read,
             coalesce(sum(toast_hit), 0)::int8 as toast_hit, coalesce(sum(toast_read), 0)::int8 as toast_read,
             coalesce(sum(toast_idx_hit), 0)::int8 as tidx_hit, coalesce(sum(toast_idx_read), 0)::int8 as tidx_read
        from ${windowRows(sql, 'relation_deltas', targetId, window)} d
       where dbid = ${dbid}
       group by relid
    ),
    rels as materialized (
      select * from relations
       where target_id = ${targetId} and dbid = ${dbid} and (gone_at is null or gone_at > ${window.from})
    ),
    sizes as materialized (
      select distinct on (relid) relid, bytes, total_bytes from relation_sizes
       where target_id = ${targetId} and dbid = ${dbid} and at <= ${window.to}
       order by relid, at desc
    ),
    tab as (
      select r.relid as oid, r.schema, r.name as "table", r.toast,
             exists (select 1 from rels i where i.kind = 'i' and i.table_relid = r.relid) as indexed,
             coalesce(s.heap_hit, 0) as heap_hit, coalesce(s.heap_read, 0) as heap_read,
             coalesce(s.idx_hit, 0) as idx_hit0, coalesce(s.idx_read, 0) as idx_read0,
             coalesce(s.toast_hit, 0) as toast_hit0, coalesce(s.toast_read, 0) as toast_read0,
             coalesce(s.tidx_hit, 0) as tidx_hit, coalesce(s.tidx_read, 0) as tidx_read, z.total_bytes as size_bytes
        from rels r
        left join sums s on s.relid = r.relid
        left join sizes z on z.relid = r.relid
       where r.kind in ('r', 'm')
         ${f.schema !== undefined ? sql`and r.schema = ${f.schema}` : none}
         ${f.table !== undefined ? sql`and r.name = ${f.table}` : none}
    ),
    tables as (
      select t.*, case when t.indexed then t.idx_hit0 end as idx_hit, case when t.indexed then t.idx_read0 end as idx_read,
             case when t.toast then t.toast_hit0 end as toast_hit, case when t.toast then t.toast_read0 end as toast_read
        from tab t
    ),
    table_page as (
      select * from tables
       where true ${f.minReads !== undefined ? sql`and ${sql.unsafe(reads)} >= ${f.minReads}` : none}
       order by ${tableKey}, schema, "table" limit ${f.limit}
    ),
    index_page as (
      select i.relid as oid, t.schema, t."table", i.name as index, coalesce(s.idx_hit, 0) as hit,
             coalesce(s.idx_read, 0) as read, z.bytes as size_bytes
        from rels i
        join tab t on t.oid = i.table_relid
        left join sums s on s.relid = i.relid
        left join sizes z on z.relid = i.relid
       where i.kind = 'i' ${f.minReads !== undefined ? sql`and coalesce(s.idx_read, 0) >= ${f.minReads}` : none}
       order by ${indexKey}, schema, "table", index limit ${f.limit}
    )
    select (select json_build_object(
              'heapBlksHit', coalesce(sum(heap_hit), 0)::int8, 'heapBlksRead', coalesce(sum(heap_read), 0)::int8,
              'idxBlksHit', coalesce(sum(idx_hit), 0)::int8, 'idxBlksRead', coalesce(sum(idx_read), 0)::int8,
              'toastBlksHit', coalesce(sum(toast_hit), 0)::int8, 'toastBlksRead', coalesce(sum(toast_read), 0)::int8,
              'toastIdxBlksHit', coalesce(sum(tidx_hit), 0)::int8, 'toastIdxBlksRead', coalesce(sum(tidx_read), 0)::int8)
              from tables) as totals,
           coalesce((select json_agg(json_build_object(
              'oid', oid, 'schema', schema, 'table', "table", 'heapBlksHit', heap_hit, 'heapBlksRead', heap_read,
              'idxBlksHit', idx_hit, 'idxBlksRead', idx_read, 'toastBlksHit', toast_hit, 'toastBlksRead', toast_read,
              'sizeBytes', size_bytes, 'locked', false) order by ${tableKey}, schema, "table")
              from table_page), '[]') as "perTable",
           coalesce((select json_agg(json_build_object(
              'oid', oid, 'schema', schema, 'table', "table", 'index', index, 'idxBlksHit', hit, 'idxBlksRead', read,
              'sizeBytes', size_bytes, 'locked', false) order by ${indexKey}, schema, "table", index)
              from index_page), '[]') as "perIndex"`;
  return row;
}
