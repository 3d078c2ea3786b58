import { Injectable } from '@nestjs/common';
import { buildMeta, WarningDto } from '../../common/meta.dto';
import { DatabaseProvider } from '../../database/database.provider';
import { IndexDto, IndexesQueryDto, IndexesResponseDto, TableDto } from './indexes.dto';
import { avoidingLocks, lockedWarning, SIZE_LOCK_TIMEOUT_MS } from '../shared/locks';
import { statsResetQuery } from '../shared/relations.sql';
import {
  IndexFilters,
  indexesQuery,
  indexSummaryQuery,
  NEEDS_INDEX_MIN_ROWS,
  NEEDS_INDEX_MIN_ROWS_PER_SEQ_SCAN,
  NEEDS_INDEX_MIN_SEQ_SHARE,
  TableRow,
  tablesQuery,
} from './indexes.sql';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

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
        const { value, locked } = await avoidingLocks(ctx, async (oids, sp) => ({
          summary: (await indexSummaryQuery(sp, info.major, filters, oids))[0],
          indexes: await indexesQuery(sp, info.major, filters, oids),
          tables: await tablesQuery(sp, info.major, filters, oids),
        }));
        const warnings: WarningDto[] = [];
        const skipped = [
          ...value.indexes.filter((i) => i.locked).map((i) => `${i.schema}.${i.index}`),
          ...value.tables.filter((t) => t.locked).map((t) => `${t.schema}.${t.table}`),
        ];
        if (skipped.length > 0) warnings.push(lockedWarning(skipped, locked));
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
