import { Injectable } from '@nestjs/common';
import { buildMeta, warning, WarningDto } from '../../common/meta.dto';
import { DatabaseProvider, ReadContext } from '../../database/database.provider';
import { IndexDto, IndexesQueryDto, IndexesResponseDto, TableDto } from './indexes.dto';
import {
  IndexFilters,
  indexesQuery,
  indexSummaryQuery,
  LockedRelation,
  lockedRelationsQuery,
  NEEDS_INDEX_MIN_ROWS,
  NEEDS_INDEX_MIN_ROWS_PER_SEQ_SCAN,
  NEEDS_INDEX_MIN_SEQ_SHARE,
  statsResetQuery,
  TableRow,
  tablesQuery,
} from './indexes.sql';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
/** Size functions give up this fast on a lock taken after pgscope looked at pg_locks (then it looks again). */
const SIZE_LOCK_TIMEOUT_MS = 200;

@Injectable()
export class IndexesService {
  constructor(private readonly db: DatabaseProvider) {}

  async getIndexes(query: IndexesQueryDto): Promise<IndexesResponseDto> {
    const started = performance.now();
    const filters: IndexFilters = {
      schema: query.schema,
      table: query.table,
      unused: query.unused,
      invalid: query.invalid,
      duplicate: query.duplicate,
      orderBy: query.orderBy ?? 'size',
      order: query.order ?? 'desc',
      limit: query.limit ?? 100,
    };
    return this.db.read(
      'indexes',
      async (ctx) => {
        const { sql, info } = ctx;
        const [stats] = await statsResetQuery(sql);
        const { value, locked } = await this.avoidingLocks(ctx, async (oids) => ({
          summary: (await indexSummaryQuery(sql, info.major, filters, oids))[0],
          indexes: await indexesQuery(sql, info.major, filters, oids),
          tables: await tablesQuery(sql, info.major, filters, oids),
        }));
        const warnings: WarningDto[] = [];
        const skipped = new Set([
          ...value.indexes.filter((i) => i.locked).map((i) => `${i.schema}.${i.index}`),
          ...value.tables.filter((t) => t.locked).map((t) => `${t.schema}.${t.table}`),
        ]);
        if (skipped.size > 0) {
          warnings.push(
            warning(
              'RELATION_LOCKED',
              `Sizes skipped for relations under an ACCESS EXCLUSIVE lock (a migration, VACUUM FULL, REINDEX…): ` +
                `${[...skipped].join(', ')}. Locked now: ${locked.map((l) => `${l.schema}.${l.name}`).join(', ')}.`,
              'Their other figures are shown; sizes come back once the lock is released.',
            ),
          );
        }
        return {
          meta: buildMeta(info, started, warnings),
          statsReset: iso(stats.statsReset),
          statsAgeSeconds: stats.statsAgeSeconds,
          summary: value.summary,
          indexes: value.indexes.map(({ oid: _oid, locked: _locked, lastScan, ...row }): IndexDto => ({
            ...row,
            lastScan: iso(lastScan),
            bloat: null,
          })),
          tables: value.tables.map(toTable),
        };
      },
      { lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
    );
  }

  /**
   * Runs `collect` with the relations under ACCESS EXCLUSIVE locks; if one was locked in between (lock_timeout),
   * reads the locks again and retries once, so a migration never makes the page wait.
   */
  private async avoidingLocks<T>(
    ctx: ReadContext,
    collect: (locked: number[]) => Promise<T>,
  ): Promise<{ value: T; locked: LockedRelation[] }> {
    for (let attempt = 0; ; attempt++) {
      const locked = await lockedRelationsQuery(ctx.sql);
      const value = await ctx.optional(
        () => collect(locked.map((l) => l.oid)),
        attempt === 0 ? ['55P03'] : [],
        () => undefined,
      );
      if (value !== undefined) return { value, locked };
    }
  }
}

function toTable(t: TableRow): TableDto {
  const indexScans = t.indexScans;
  const scans = t.seqScans + (indexScans ?? 0);
  const rows = t.liveTuples > 0 ? t.liveTuples : Math.max(t.reltuples, 0);
  const needsIndex =
    rows >= NEEDS_INDEX_MIN_ROWS &&
    scans > 0 &&
    t.seqScans / scans > NEEDS_INDEX_MIN_SEQ_SHARE &&
    t.seqTuplesRead / t.seqScans >= NEEDS_INDEX_MIN_ROWS_PER_SEQ_SCAN;
  return {
    schema: t.schema,
    table: t.table,
    kind: t.kind,
    partitionOf: t.partitionOf,
    partitions: t.partitions,
    sizeBytes: t.sizeBytes,
    totalSizeBytes: t.totalSizeBytes,
    liveTuples: t.liveTuples,
    deadTuples: t.deadTuples,
    seqScans: t.seqScans,
    seqTuplesRead: t.seqTuplesRead,
    indexScans,
    indexScanRatio: scans > 0 ? (indexScans ?? 0) / scans : null,
    lastSeqScan: iso(t.lastSeqScan),
    lastIndexScan: iso(t.lastIndexScan),
    lastVacuum: iso(t.lastVacuum),
    lastAutovacuum: iso(t.lastAutovacuum),
    lastAnalyze: iso(t.lastAnalyze),
    lastAutoanalyze: iso(t.lastAutoanalyze),
    needsIndex,
    bloat: null,
  };
}
