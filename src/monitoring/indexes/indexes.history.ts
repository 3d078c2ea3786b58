import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { databaseOid } from '../../history/databases';
import { HistoryService } from '../../history/history.service';
import { arrayLiteral } from '../../history/store';
import { Window } from '../../history/window';
import { windowCoverage, windowRows } from '../../history/window-read';
import { Target } from '../../targets/target';
import { IndexesQueryDto, IndexesResponseDto } from './indexes.dto';
import { IndexesService } from './indexes.service';
import { IndexUsage } from './indexes.sql';
import { TableUsage } from './tables.sql';

/**
 * /indexes over a window: the live answer (definitions, verdicts, sizes and bloat are the server's now) with the
 * usage of the window from the history store: scans and tuples as deltas, `unused` meaning not scanned in it (the
 * covered time in meta.window: two days of history never claim "unused for seven days"), and how much each
 * relation grew.
 */
@Injectable()
export class IndexesHistory {
  constructor(
    private readonly history: HistoryService,
    private readonly indexes: IndexesService,
    @Inject(Env) private readonly env: Env,
  ) {}

  async get(target: Target, query: IndexesQueryDto, window: Window): Promise<IndexesResponseDto> {
    const started = performance.now();
    const store = this.history.store;
    const targetId = await store.targetId(target.name);
    const { dbid } = await databaseOid(store, target, query.database);
    const db = await target.database(query.database);
    const coverage = await windowCoverage(
      store,
      { targetId, family: 'relations', dbids: [dbid ?? -1], intervalMs: this.env.HISTORY_RELATIONS_INTERVAL },
      window,
    );
    const rows = await store.read(
      (sql) => sql<{ relid: number; kind: string; a: number; b: number; c: number; d: number; e: number }[]>`
        select d.relid::int8 as relid, r.kind::text as kind,
               coalesce(sum(d.idx_scan), 0)::int8 as a, coalesce(sum(d.idx_tup_read), 0)::int8 as b,
               coalesce(sum(d.idx_tup_fetch), 0)::int8 as c, coalesce(sum(d.seq_scan), 0)::int8 as d,
               coalesce(sum(d.seq_tup_read), 0)::int8 as e
          from ${windowRows(sql, 'relation_deltas', targetId, window)} d
          left join relations r on r.target_id = ${targetId} and r.dbid = d.dbid and r.relid = d.relid
         where d.dbid = ${dbid ?? -1}
         group by d.relid, r.kind`,
    );
    const indexes: IndexUsage = rows.filter((r) => r.kind === 'i').map((r) => [Number(r.relid), r.a, r.b, r.c]);
    const tables: TableUsage = rows.filter((r) => r.kind !== 'i').map((r) => [Number(r.relid), r.d, r.e, r.a]);
    const body = await this.indexes.getIndexes(db, query, {
      indexes,
      tables,
      growth: async (oids) => {
        if (dbid === undefined || oids.length === 0) return new Map();
        const grown = await store.read(
          (sql) => sql<{ relid: number; growth: number | null }[]>`
            with page as (select unnest(${arrayLiteral(oids)}::oid[]) as relid),
            sizes as (
              select s.relid, s.at, coalesce(s.total_bytes, s.bytes) as bytes
                from relation_sizes s
               where s.target_id = ${targetId} and s.dbid = ${dbid} and s.relid in (select relid from page)
                 and s.at <= ${window.to}
            )
            select p.relid::int8 as relid,
                   ((select bytes from sizes z where z.relid = p.relid order by at desc limit 1)
                    - coalesce((select bytes from sizes z where z.relid = p.relid and z.at <= ${window.from}
                                 order by at desc limit 1),
                               (select bytes from sizes z where z.relid = p.relid order by at limit 1)))::int8 as growth
              from page p`,
        );
        return new Map(grown.filter((g) => g.growth !== null).map((g) => [Number(g.relid), g.growth as number]));
      },
    });
    return {
      ...body,
      meta: {
        ...body.meta,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        window: coverage.meta,
      },
    };
  }
}
