import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { DatabaseProvider, ReadContext, ServerInfo } from '../../database/database.provider';
import { RelationSizeRow } from '../shared/relations.sql';
import { SlowFiguresRegistry } from '../shared/sizes';
import { Figures } from '../shared/slow-figures';
import { BloatDto } from './bloat.dto';
import {
  BLOCK_SIZE,
  estimateBtree,
  estimateTable,
  IndexInput,
  packedHeapPages,
  STALE_SHARE,
  unavailable,
} from './bloat.estimate';
import {
  IndexBloatInputRow,
  indexBloatInputsQuery,
  measureIndexQuery,
  measureTableQuery,
  tableBloatInputsQuery,
} from './bloat.sql';

export interface BloatFigures {
  tables: Map<number, BloatDto | null>;
  indexes: Map<number, BloatDto | null>;
}

/** Reclaimable space in tables and btree indexes: estimated (default) or measured with pgstattuple. */
@Injectable()
export class BloatService {
  constructor(
    @Inject(Env) private readonly env: Env,
    private readonly slow: SlowFiguresRegistry,
  ) {}

  /**
   * Estimates from the catalog and statistics, with the sizes given: for every user table and index, or only the
   * ones named (`only`). Relations without a size (locked when sized) get `unavailable`.
   */
  async estimate(
    ctx: ReadContext,
    sizes: Map<number, RelationSizeRow>,
    only?: { tables: number[]; indexes: number[] },
  ): Promise<BloatFigures> {
    const [tables, indexes] = [
      only?.tables.length === 0 ? [] : await tableBloatInputsQuery(ctx.sql, only?.tables),
      only?.indexes.length === 0 ? [] : await indexBloatInputsQuery(ctx.sql, only?.indexes),
    ];
    return {
      tables: new Map(
        tables.map((t) => {
          const size = sizes.get(Number(t.oid));
          return [
            Number(t.oid),
            estimateTable({ ...t, heapBytes: size?.bytes ?? null, toastBytes: size?.toastBytes ?? 0 }),
          ];
        }),
      ),
      indexes: new Map(
        indexes.map((ix) => [
          Number(ix.oid),
          ix.relkind === 'I'
            ? null
            : estimateBtree(toIndexInput(ix, sizes.get(Number(ix.oid))?.bytes ?? null, ctx.info)),
        ]),
      ),
    };
  }

  /**
   * Estimates for the whole catalogue (what orderBy=bloat and the reclaimable totals need), at the slower cadence
   * of the sizes they are made from, and served with their age.
   */
  catalogue(db: DatabaseProvider): Promise<Figures<BloatFigures>> {
    return this.slow.of(db).get('bloat', async () => {
      const { value } = await this.slow.sizes(db);
      return db.read('bloat-estimate', (ctx) => this.estimate(ctx, value.sizes), {
        statementTimeoutMs: this.slow.slowTimeoutMs,
      });
    });
  }

  /**
   * Measures the given relations with pgstattuple (heaps) and pgstatindex (btrees), each under the
   * BLOAT_MEASURE_TIMEOUT_MS statement timeout, converted to the same reclaimable-bytes meaning as the estimate.
   * A relation that cannot be measured (privilege, timeout, not a btree) gets `unavailable` with the reason.
   */
  async measure(
    ctx: ReadContext,
    schema: string,
    tableOids: number[],
    indexes: { oid: number; indexType: string }[],
    locked: Set<number>,
  ): Promise<BloatFigures & { failures: Set<string> }> {
    const failures = new Set<string>();
    const timeout = this.env.BLOAT_MEASURE_TIMEOUT_MS;
    await ctx.sql`select /* pgscope */ set_config('statement_timeout', ${String(timeout)}, true)`;
    const measureOne = async <T>(fn: (sql: typeof ctx.sql) => Promise<T>): Promise<T | undefined> =>
      ctx.optional(fn, ['42501', '57014', '55P03', '0A000', '42809'], (code) => {
        failures.add(code);
        return undefined;
      });
    const tables = new Map<number, BloatDto | null>();
    for (const oid of tableOids) {
      if (locked.has(oid)) {
        tables.set(oid, unavailable(['relation_locked']));
        continue;
      }
      const started = performance.now();
      const row = await measureOne(async (sp) => (await measureTableQuery(sp, schema, oid))[0]);
      tables.set(oid, row ? measuredTable(row, performance.now() - started) : unavailable(['measure_failed']));
    }
    const result = new Map<number, BloatDto | null>();
    for (const ix of indexes) {
      if (ix.indexType !== 'btree') {
        result.set(ix.oid, null);
        continue;
      }
      if (locked.has(ix.oid)) {
        result.set(ix.oid, unavailable(['relation_locked']));
        continue;
      }
      const started = performance.now();
      const row = await measureOne(async (sp) => (await measureIndexQuery(sp, schema, ix.oid))[0]);
      result.set(ix.oid, row ? measuredIndex(row, performance.now() - started) : unavailable(['measure_failed']));
    }
    await ctx.sql`select /* pgscope */ set_config('statement_timeout', ${String(this.env.QUERY_TIMEOUT_MS)}, true)`;
    return { tables, indexes: result, failures };
  }
}

function toIndexInput(ix: IndexBloatInputRow, sizeBytes: number | null, info: ServerInfo): IndexInput {
  // A partial index holds the share of rows its own reltuples says, scaled to the table's rows now.
  const rows = ix.partial && ix.tableReltuples > 0 ? (ix.indexReltuples / ix.tableReltuples) * ix.rows : ix.rows;
  return {
    amname: ix.amname,
    sizeBytes,
    rows,
    fillfactor: ix.fillfactor,
    unique: ix.unique,
    partial: ix.partial,
    expression: ix.expression,
    columns: ix.columns,
    dedupCapable: ix.dedupCapable,
    dedupServer: info.major >= 13,
    statsVisible: ix.statsVisible,
    statsStale: ix.tableReltuples > 0 && ix.tableModSinceAnalyze / ix.tableReltuples > STALE_SHARE,
  };
}

function measured(sizeBytes: number, expectedBytes: number, usedBytes: number, durationMs: number): BloatDto {
  const reclaimable = Math.max(0, sizeBytes - expectedBytes);
  return {
    method: 'measured',
    reclaimableBytes: Math.round(reclaimable),
    reclaimableRatio: sizeBytes > 0 ? reclaimable / sizeBytes : 0,
    freeInclFillfactorRatio: sizeBytes > 0 ? Math.max(0, Math.min(1, 1 - usedBytes / sizeBytes)) : 0,
    confidence: 'high',
    reasons: [],
    durationMs: Math.round(durationMs * 100) / 100,
  };
}

/** pgstattuple counts the fillfactor reserve as free; repacking the live tuples with it is the truth. */
function measuredTable(
  m: { tableLen: number; tupleCount: number; tupleLen: number; fillfactor: number },
  durationMs: number,
): BloatDto {
  const avgTuple = m.tupleCount > 0 ? Math.ceil(m.tupleLen / m.tupleCount / 8) * 8 : 0;
  const expected = m.tupleCount > 0 ? packedHeapPages(m.tupleCount, avgTuple, m.fillfactor) * BLOCK_SIZE : 0;
  return measured(m.tableLen, expected, m.tupleLen + m.tupleCount * 4, durationMs);
}

/** pgstatindex gives the leaf density; the leaves repacked to the index fillfactor are what REINDEX builds. */
function measuredIndex(
  m: { indexSize: number; leafPages: number; internalPages: number; avgLeafDensity: number; fillfactor: number },
  durationMs: number,
): BloatDto {
  const usable = BLOCK_SIZE - 24 - 16;
  const leafTarget = usable - Math.floor((BLOCK_SIZE * (100 - m.fillfactor)) / 100);
  const usedLeaf = (m.leafPages * usable * (Number.isNaN(m.avgLeafDensity) ? 0 : m.avgLeafDensity)) / 100;
  const leaves = Math.max(1, Math.ceil(usedLeaf / leafTarget));
  const internal = m.leafPages > 0 ? Math.ceil((m.internalPages * leaves) / m.leafPages) : 0;
  return measured(m.indexSize, (1 + leaves + internal) * BLOCK_SIZE, usedLeaf, durationMs);
}
