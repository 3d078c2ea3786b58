import { Injectable } from '@nestjs/common';
import { InvalidParameterError } from '../../common/errors';
import { buildMeta, warning, WarningDto } from '../../common/meta.dto';
import { BloatDto } from '../bloat/bloat.dto';
import { BloatService } from '../bloat/bloat.service';
import { DatabaseProvider } from '../../database/database.provider';
import { IndexDto, IndexesQueryDto, IndexesResponseDto, TableDto } from './indexes.dto';
import { avoidingLocks, lockedWarning, SIZE_LOCK_TIMEOUT_MS } from '../shared/locks';
import { statsResetQuery } from '../shared/relations.sql';
import {
  IndexFilters,
  IndexRow,
  indexesQuery,
  indexSummaryQuery,
  NEEDS_INDEX_MIN_ROWS,
  NEEDS_INDEX_MIN_ROWS_PER_SEQ_SCAN,
  NEEDS_INDEX_MIN_SEQ_SHARE,
  TableRow,
  tablesQuery,
} from './indexes.sql';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** orderBy=bloat sorts in JS: the SQL then returns every row in scope. */
const ALL_ROWS = 1_000_000;
/** bloat=measured scans each relation: only for a table, or a page this small. */
export const MEASURED_MAX_LIMIT = 20;

@Injectable()
export class IndexesService {
  constructor(
    private readonly db: DatabaseProvider,
    private readonly bloat: BloatService,
  ) {}

  async getIndexes(query: IndexesQueryDto): Promise<IndexesResponseDto> {
    const started = performance.now();
    if (query.bloat === 'measured' && query.table === undefined && (query.limit ?? 100) > MEASURED_MAX_LIMIT) {
      throw InvalidParameterError.of(
        'bloat',
        `measured scans every returned relation with pgstattuple, so it needs a table filter or limit ≤ ${MEASURED_MAX_LIMIT}`,
      );
    }
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
        // Bloat is estimated in JS from catalog inputs, so ordering by it needs every row in scope first.
        const sqlFilters = filters.orderBy === 'bloat' ? { ...filters, limit: ALL_ROWS } : filters;
        const { value, locked } = await avoidingLocks(ctx, async (oids, sp) => ({
          summary: (await indexSummaryQuery(sp, info.major, filters, oids))[0],
          indexes: await indexesQuery(sp, info.major, sqlFilters, oids),
          tables: await tablesQuery(sp, info.major, sqlFilters, oids),
          estimates: await this.bloat.estimate({ ...ctx, sql: sp }, filters, oids),
        }));
        const warnings: WarningDto[] = [];
        let indexes: IndexRow[] = value.indexes;
        let tables: TableRow[] = value.tables;
        const { estimates } = value;
        const reclaimable = (m: Map<number, BloatDto | null>) =>
          [...m.values()].reduce((n, b) => n + (b?.reclaimableBytes ?? 0), 0);
        if (filters.orderBy === 'bloat') {
          const sign = filters.order === 'asc' ? 1 : -1;
          const key = (b: BloatDto | null | undefined) => b?.reclaimableBytes ?? null;
          const byBloat = (m: Map<number, BloatDto | null>) => (a: { oid: number }, b: { oid: number }) => {
            const x = key(m.get(Number(a.oid)));
            const y = key(m.get(Number(b.oid)));
            if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
            return sign * (x - y);
          };
          indexes = [...indexes].sort(byBloat(estimates.indexes)).slice(0, filters.limit);
          tables = [...tables].sort(byBloat(estimates.tables)).slice(0, filters.limit);
        }
        let figures = estimates;
        if (query.bloat === 'measured') {
          const ext = await ctx.extension('pgstattuple');
          if (!ext) {
            throw InvalidParameterError.of(
              'bloat',
              `measured needs the pgstattuple extension, which is not created in database "${info.currentDatabase}"`,
              'CREATE EXTENSION pgstattuple; (pg_monitor may then run it: pgstattuple grants EXECUTE to pg_stat_scan_tables)',
            );
          }
          const lockedOids = new Set(locked.map((l) => Number(l.oid)));
          const m = await this.bloat.measure(
            ctx,
            ext.schema,
            tables.filter((t) => t.kind !== 'partitioned').map((t) => Number(t.oid)),
            indexes.map((i) => ({ oid: Number(i.oid), indexType: i.indexType })),
            new Set([...lockedOids, ...indexes.filter((i) => i.locked).map((i) => Number(i.oid))]),
          );
          figures = m;
          if (m.failures.has('42501')) {
            warnings.push(
              warning(
                'INSUFFICIENT_PRIVILEGE',
                `Role "${info.currentUser}" may not run pgstattuple: measured bloat is unavailable.`,
                `GRANT pg_stat_scan_tables TO ${info.currentUser}; (or GRANT pg_monitor)`,
              ),
            );
          }
          if (m.failures.has('57014')) {
            warnings.push(
              warning(
                'MEASURE_TIMEOUT',
                'A pgstattuple scan exceeded BLOAT_MEASURE_TIMEOUT_MS and was cancelled: that figure is unavailable.',
                'Measure fewer or smaller relations (table filter), or raise BLOAT_MEASURE_TIMEOUT_MS.',
              ),
            );
          }
        }
        const hiddenStats = [...estimates.tables.values(), ...estimates.indexes.values()].some((b) =>
          b?.reasons.includes('stats_not_visible'),
        );
        if (hiddenStats) {
          warnings.push(
            warning(
              'STATS_HIDDEN',
              `pg_stats hides column statistics of tables role "${info.currentUser}" may not SELECT: their bloat estimates are unavailable.`,
              info.major >= 14
                ? `GRANT pg_read_all_data TO ${info.currentUser}; (or GRANT SELECT on those tables)`
                : `GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO ${info.currentUser};`,
            ),
          );
        }
        const skipped = [
          ...value.indexes.filter((i) => i.locked).map((i) => `${i.schema}.${i.index}`),
          ...value.tables.filter((t) => t.locked).map((t) => `${t.schema}.${t.table}`),
        ];
        if (skipped.length > 0) warnings.push(lockedWarning(skipped, locked));
        return {
          meta: buildMeta(info, started, warnings),
          statsReset: iso(stats.statsReset),
          statsAgeSeconds: stats.statsAgeSeconds,
          summary: {
            ...value.summary,
            reclaimableIndexBytes: reclaimable(estimates.indexes),
            reclaimableTableBytes: reclaimable(estimates.tables),
          },
          indexes: indexes.map(({ oid, locked: _locked, lastScan, ...row }): IndexDto => ({
            ...row,
            lastScan: iso(lastScan),
            bloat: figures.indexes.get(Number(oid)) ?? null,
          })),
          tables: tables.map((t) => toTable(t, figures.tables.get(Number(t.oid)) ?? null)),
        };
      },
      { lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
    );
  }
}

function toTable(t: TableRow, bloat: BloatDto | null): TableDto {
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
    bloat,
  };
}
