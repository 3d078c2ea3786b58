import { Injectable } from '@nestjs/common';
import { InvalidParameterError } from '../../common/errors';
import { buildMeta, warning, WarningDto } from '../shared/meta.dto';
import { DatabaseProvider } from '../../database/database.provider';
import { BloatDto } from '../bloat/bloat.dto';
import { BloatFigures, BloatService } from '../bloat/bloat.service';
import { avoidingLocks, lockedWarning, SIZE_LOCK_TIMEOUT_MS } from '../shared/locks';
import { RelationSizeRow, statsResetQuery } from '../shared/relations.sql';
import { derived, SizesSnapshot, SlowFiguresRegistry } from '../shared/sizes';
import { IndexDto, INDEXES_DEFAULTS, IndexesQueryDto, IndexesResponseDto, TableDto } from './indexes.dto';
import { withDefaults } from '../../http/query';
import { IndexFigures, IndexFilters, IndexRow, indexesQuery, IndexUsage } from './indexes.sql';
import { TableFigures, TableRow, tablesQuery, TableUsage } from './tables.sql';

/** A window's usage of the relations (history store), and how much the page's relations grew in it. */
export interface WindowUsage {
  indexes: IndexUsage;
  tables: TableUsage;
  /** Bytes grown over the window per relation oid (a table's total size, an index's size); absent: unknown. */
  growth(oids: number[]): Promise<Map<number, number>>;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** bloat=measured scans each relation: only for a table, or a page this small. */
const MEASURED_MAX_LIMIT = 20;

/** A table is flagged `needsIndex` from this many rows (n_live_tup, else reltuples) … */
const NEEDS_INDEX_MIN_ROWS = 10_000;
/** … when more than this share of its scans are sequential … */
const NEEDS_INDEX_MIN_SEQ_SHARE = 0.5;
/** … and a sequential scan reads at least this many rows on average. */
const NEEDS_INDEX_MIN_ROWS_PER_SEQ_SCAN = 1_000;

@Injectable()
export class IndexesService {
  constructor(
    private readonly bloat: BloatService,
    private readonly slow: SlowFiguresRegistry,
  ) {}

  private readonly derivedFigures = new WeakMap<
    SizesSnapshot,
    Map<BloatFigures | undefined, { indexes: IndexFigures; tables: TableFigures }>
  >();

  /** The per-relation figures handed to the SQL, made once per snapshot. */
  private figures(sizes: SizesSnapshot, bloat: BloatFigures | undefined) {
    return derived(this.derivedFigures, sizes, bloat, () => ({
      indexes: indexFigures(sizes.sizes, bloat),
      tables: tableFigures(sizes.sizes, bloat),
    }));
  }

  /**
   * The live answer, or with `usage` (a window's, from the history store) the same answer whose usage columns,
   * `unused` verdicts and scans order are the window's.
   */
  async getIndexes(db: DatabaseProvider, given: IndexesQueryDto, usage?: WindowUsage): Promise<IndexesResponseDto> {
    const started = performance.now();
    const query = withDefaults(INDEXES_DEFAULTS, given);
    const mode = query.bloat;
    if (mode === 'measured' && query.table === undefined && query.limit > MEASURED_MAX_LIMIT) {
      throw InvalidParameterError.of(
        'bloat',
        `measured scans every returned relation with pgstattuple, so it needs a table filter or limit ≤ ${MEASURED_MAX_LIMIT}`,
      );
    }
    if (mode === 'none' && query.orderBy === 'bloat') {
      throw InvalidParameterError.of('orderBy', 'bloat needs estimates: not with bloat=none');
    }
    const filters: IndexFilters = query;
    // Sizes and whole-catalogue estimates come at their own cadence (one visit of every relation per
    // SIZES_MAX_AGE_MS, whatever the number of requests); the request reads counters and verdicts only.
    const sizes = await this.slow.sizes(db);
    const catalogue = mode === 'none' ? undefined : await this.bloat.catalogue(db);
    return db.read(
      'indexes',
      async (ctx) => {
        const { info } = ctx;
        const [stats] = await statsResetQuery(ctx.sql);
        const { value, locked } = await avoidingLocks(ctx, async (oids, sp) => ({
          indexes: await indexesQuery(
            sp,
            info.major,
            filters,
            oids,
            this.figures(sizes.value, catalogue?.value).indexes,
            usage?.indexes,
          ),
          tables: await tablesQuery(
            sp,
            info.major,
            filters,
            oids,
            this.figures(sizes.value, catalogue?.value).tables,
            usage?.tables,
          ),
        }));
        const indexes = value.indexes
          .filter((r) => r.present)
          .map(({ present: _p, summary: _s, ...row }) => row as IndexRow);
        const summary = value.indexes[0].summary;
        const tables = value.tables;
        const warnings: WarningDto[] = [];

        let figures: BloatFigures = { tables: new Map(), indexes: new Map() };
        if (mode === 'estimate' && catalogue) {
          figures = await this.pageEstimates(ctx, catalogue.value, indexes, tables);
        } else if (mode === 'measured') {
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
        const hiddenStats = [...figures.tables.values(), ...figures.indexes.values()].some((b) =>
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
        const growth = usage
          ? await usage.growth([...indexes.map((i) => Number(i.oid)), ...tables.map((t) => Number(t.oid))])
          : undefined;
        // Locked now (definitions skipped), or when the sizes were read (sizes null).
        const sizedLocked = sizes.value.locked;
        const skipped = [
          ...indexes.filter((i) => i.locked || i.sizeBytes === null).map((i) => `${i.schema}.${i.index}`),
          ...tables
            .filter((t) => t.locked || (t.totalSizeBytes === null && t.kind !== 'partitioned'))
            .map((t) => `${t.schema}.${t.table}`),
        ];
        if (skipped.length > 0) warnings.push(lockedWarning(skipped, [...locked, ...sizedLocked]));
        return {
          meta: buildMeta(info, started, warnings),
          statsReset: iso(stats.statsReset),
          statsAgeSeconds: stats.statsAgeSeconds,
          sizesCollectedAt: sizes.collectedAt.toISOString(),
          summary: {
            ...summary,
            reclaimableIndexBytes: catalogue ? (summary.reclaimableIndexBytes ?? 0) : null,
            reclaimableTableBytes: catalogue ? (tables[0]?.reclaimableTableBytes ?? 0) : null,
          },
          indexes: indexes.map(({ oid, locked: _locked, lastScan, ...row }): IndexDto => ({
            ...row,
            lastScan: iso(lastScan),
            bloat: figures.indexes.get(Number(oid)) ?? null,
            sizeGrowthBytes: growth?.get(Number(oid)) ?? null,
          })),
          tables: tables.map((t) =>
            toTable(t, figures.tables.get(Number(t.oid)) ?? null, growth?.get(Number(t.oid)) ?? null),
          ),
        };
      },
      { lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
    );
  }

  /** The page's estimates from the catalogue's; relations created since it was made are estimated now. */
  private async pageEstimates(
    ctx: Parameters<BloatService['estimate']>[0],
    catalogue: BloatFigures,
    indexes: IndexRow[],
    tables: TableRow[],
  ): Promise<BloatFigures> {
    const newTables = tables.filter((t) => t.kind !== 'partitioned' && !catalogue.tables.has(Number(t.oid)));
    const newIndexes = indexes.filter((i) => !catalogue.indexes.has(Number(i.oid)));
    if (newTables.length === 0 && newIndexes.length === 0) return catalogue;
    const sizes = new Map<number, RelationSizeRow>();
    for (const t of newTables) {
      sizes.set(Number(t.oid), {
        oid: t.oid,
        kind: 'table',
        bytes: t.sizeBytes,
        totalBytes: t.totalSizeBytes,
        toastBytes: 0,
      });
    }
    for (const i of newIndexes) {
      sizes.set(Number(i.oid), { oid: i.oid, kind: 'index', bytes: i.sizeBytes, totalBytes: null, toastBytes: null });
    }
    const fresh = await this.bloat.estimate(ctx, sizes, {
      tables: newTables.map((t) => Number(t.oid)),
      indexes: newIndexes.map((i) => Number(i.oid)),
    });
    return {
      tables: new Map([...catalogue.tables, ...fresh.tables]),
      indexes: new Map([...catalogue.indexes, ...fresh.indexes]),
    };
  }
}

function indexFigures(sizes: Map<number, RelationSizeRow>, bloat: BloatFigures | undefined): IndexFigures {
  const rows: IndexFigures = [];
  for (const [oid, s] of sizes) {
    if (s.kind === 'index') rows.push([oid, s.bytes, bloat?.indexes.get(oid)?.reclaimableBytes ?? null]);
  }
  return rows;
}

function tableFigures(sizes: Map<number, RelationSizeRow>, bloat: BloatFigures | undefined): TableFigures {
  const rows: TableFigures = [];
  for (const [oid, s] of sizes) {
    if (s.kind === 'table') rows.push([oid, s.bytes, s.totalBytes, bloat?.tables.get(oid)?.reclaimableBytes ?? null]);
  }
  return rows;
}

function toTable(t: TableRow, bloat: BloatDto | null, growth: number | null): TableDto {
  const indexScans = t.indexScans;
  const scans = t.seqScans + (indexScans ?? 0);
  const rows = t.liveTuples > 0 ? t.liveTuples : Math.max(t.reltuples, 0);
  const needsIndex =
    rows >= NEEDS_INDEX_MIN_ROWS &&
    scans > 0 &&
    t.seqScans / scans > NEEDS_INDEX_MIN_SEQ_SHARE &&
    t.seqTuplesRead / t.seqScans >= NEEDS_INDEX_MIN_ROWS_PER_SEQ_SCAN;
  const { oid: _oid, locked: _locked, modSinceAnalyze: _m, reltuples: _r, reclaimableTableBytes: _t, ...row } = t;
  return {
    ...row,
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
    sizeGrowthBytes: growth,
  };
}
