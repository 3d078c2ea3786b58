import { DatabaseQueryDto } from '../shared/target-query.dto';
import { ApiProperty } from '@nestjs/swagger';
import { MetaDto } from '../shared/meta.dto';
import { Windowed } from '../../history/window';
import { BooleanParam, EnumParam, IntParam, OrderParam, SortOrder, NameParam } from '../../http/query';
import { BloatDto, BLOAT_METHODS } from '../bloat/bloat.dto';

export const BLOAT_MODES = [...BLOAT_METHODS, 'none'] as const;
export type BloatMode = (typeof BLOAT_MODES)[number];
import { INDEXES_ORDER_BY, IndexesOrderBy } from './indexes.sql';

/** The defaults of the parameters: documented by the decorators below, applied by the service. */
export const INDEXES_DEFAULTS = {
  orderBy: 'size' as IndexesOrderBy,
  order: 'desc' as SortOrder,
  limit: 100,
  bloat: 'estimate' as BloatMode,
};

export class IndexesQueryDto extends Windowed(
  DatabaseQueryDto,
  'Scans and tuples become deltas over it, unused means not scanned in it',
) {
  @NameParam('Only this schema (exact name)', 'public')
  schema?: string;

  @NameParam('Only this table (exact name) and its indexes', 'orders')
  table?: string;

  @BooleanParam(
    'true: only unused indexes (0 scans since the statistics reset, or in the window; backing no constraint)',
  )
  unused?: boolean;

  @BooleanParam('true: only invalid indexes (a failed CREATE INDEX CONCURRENTLY)')
  invalid?: boolean;

  @BooleanParam('true: only indexes that duplicate another (duplicateOf is set)')
  duplicate?: boolean;

  @EnumParam(
    INDEXES_ORDER_BY,
    'IndexesOrderBy',
    'Sort key for both lists: size (bytes), scans, name, or bloat (reclaimable bytes)',
    INDEXES_DEFAULTS.orderBy,
  )
  orderBy?: IndexesOrderBy;

  @OrderParam(INDEXES_DEFAULTS.order)
  order?: SortOrder;

  @IntParam('Maximum rows in each of the two lists', 1, 1000, INDEXES_DEFAULTS.limit)
  limit?: number;

  @EnumParam(
    BLOAT_MODES,
    'BloatMode',
    'estimate: from the catalog and statistics, made for the whole catalogue at most every SIZES_MAX_AGE_MS and ' +
      'served with its age (sizesCollectedAt). measured: pgstattuple / pgstatindex scans of each returned relation ' +
      '(needs the pgstattuple extension; only with a table filter or limit ≤ 20; it reads the relations and so ' +
      'raises their seq_scan and blocks-read counters). none: usage only, every bloat null',
    INDEXES_DEFAULTS.bloat,
  )
  bloat?: BloatMode;
}

export class IndexesSummaryDto {
  @ApiProperty({ type: 'integer', description: 'User indexes in scope (schema/table filters apply)' })
  indexes!: number;

  @ApiProperty({ type: 'integer', description: 'Of which unused' })
  unusedIndexes!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Bytes the unused indexes occupy' })
  unusedIndexBytes!: number;

  @ApiProperty({ type: 'integer', description: 'Indexes that duplicate another (one of each pair can go)' })
  duplicateIndexes!: number;

  @ApiProperty({ type: 'integer', description: 'Invalid indexes (maintained on writes, never used)' })
  invalidIndexes!: number;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    description: 'Bytes of all indexes in scope (locked ones not counted)',
  })
  totalIndexBytes!: number;
  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description:
      'Estimated bytes REINDEX would give back, over the btree indexes in scope with an estimate; null with bloat=none',
  })
  reclaimableIndexBytes!: number | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description:
      'Estimated bytes VACUUM FULL would give back, over the tables in scope with an estimate; null with bloat=none',
  })
  reclaimableTableBytes!: number | null;
}

export class IndexDto {
  @ApiProperty({ description: 'Schema of the index (pg_namespace.nspname)', example: 'public' })
  schema!: string;

  @ApiProperty({ description: 'Table the index belongs to (pg_class.relname)', example: 'orders' })
  table!: string;

  @ApiProperty({ description: 'Index name (pg_class.relname)', example: 'orders_customer_idx' })
  index!: string;

  @ApiProperty({ description: 'Access method (pg_am.amname)', example: 'btree' })
  indexType!: string;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'pg_get_indexdef(); null while the index or its table is under an ACCESS EXCLUSIVE lock',
    example: 'CREATE INDEX orders_customer_idx ON public.orders USING btree (customer_id)',
  })
  definition!: string | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description:
      'pg_relation_size(); null when the index or its table is under an ACCESS EXCLUSIVE lock (see meta.warnings)',
  })
  sizeBytes!: number | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    description: 'idx_scan since the statistics reset (on this server only: standbys count their own)',
  })
  scans!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'idx_tup_read' })
  tuplesRead!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'idx_tup_fetch' })
  tuplesFetched!: number;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'last_idx_scan (PostgreSQL 16+; null before, or never scanned)',
    example: '2026-11-28T03:29:00.000Z',
  })
  lastScan!: string | null;

  @ApiProperty({ description: 'indisunique' })
  isUnique!: boolean;

  @ApiProperty({ description: 'indisprimary' })
  isPrimary!: boolean;

  @ApiProperty({ description: 'Backs a primary key, unique or exclusion constraint (pg_constraint.conindid)' })
  isConstraint!: boolean;

  @ApiProperty({ description: 'Has a WHERE predicate' })
  isPartial!: boolean;

  @ApiProperty({ description: 'indisvalid: false after a failed CREATE INDEX CONCURRENTLY' })
  isValid!: boolean;

  @ApiProperty({
    description:
      'scans = 0 since the statistics reset, and neither unique nor backing a constraint. Weigh it against statsAgeSeconds, and check standbys.',
  })
  unused!: boolean;

  @ApiProperty({
    example: 'orders_customer_idx',
    type: 'string',
    nullable: true,
    description:
      'Another index on the same table with the same method, key columns, expressions, predicate, operator classes, collations and options: this one can go (a primary key is never the one)',
  })
  duplicateOf!: string | null;

  @ApiProperty({
    example: 'orders_customer_created_idx',
    type: 'string',
    nullable: true,
    description:
      'A btree index whose leading key columns are this btree index’s: it serves the same lookups (not for unique, constraint, expression or INCLUDE indexes)',
  })
  redundantWith!: string | null;

  @ApiProperty({
    type: BloatDto,
    nullable: true,
    description: 'Reclaimable space; null for kinds pgscope cannot judge (see reasons)',
  })
  bloat!: BloatDto | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    example: 1245184,
    description:
      'Bytes this index grew over the window (newest stored size at its end less the one at its start, or the first one in it, from the ' +
      'sizes family every HISTORY_SIZES_INTERVAL); negative when it shrank; null without a window or stored sizes',
  })
  sizeGrowthBytes!: number | null;
}

export class TableDto {
  @ApiProperty({ description: 'Schema of the table (pg_namespace.nspname)', example: 'public' })
  schema!: string;

  @ApiProperty({ description: 'Table name (pg_class.relname)', example: 'orders' })
  table!: string;

  @ApiProperty({
    description:
      'pg_class.relkind: an ordinary table (r), a partitioned table (p, its figures are the sums of its partitions) or a materialized view (m)',
    enum: ['table', 'partitioned', 'materialized view'],
    enumName: 'TableKind',
  })
  kind!: string;

  @ApiProperty({
    example: 'measurements',
    type: 'string',
    nullable: true,
    description: 'For a partition, its parent table',
  })
  partitionOf!: string | null;

  @ApiProperty({
    example: 12,
    type: 'integer',
    nullable: true,
    description: 'For a partitioned table, its leaf partitions (whose sums it shows); else null',
  })
  partitions!: number | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'Heap size, bytes (pg_relation_size); null when locked',
  })
  sizeBytes!: number | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'Heap + indexes + TOAST, bytes (pg_total_relation_size); null when locked',
  })
  totalSizeBytes!: number | null;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'n_live_tup' })
  liveTuples!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'n_dead_tup' })
  deadTuples!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'seq_scan' })
  seqScans!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'seq_tup_read' })
  seqTuplesRead!: number;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'idx_scan: scans of all its indexes; null when it has none',
  })
  indexScans!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'indexScans / (seqScans + indexScans), 0..1; null with no scans',
    example: 0.98,
  })
  indexScanRatio!: number | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'last_seq_scan (PostgreSQL 16+)',
    example: '2026-11-28T03:29:00.000Z',
  })
  lastSeqScan!: string | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'last_idx_scan (PostgreSQL 16+)',
    example: '2026-11-28T03:29:00.000Z',
  })
  lastIndexScan!: string | null;

  @ApiProperty({
    example: '2026-11-27T02:00:00.000Z',
    description: 'Last manual VACUUM (pg_stat_user_tables.last_vacuum); null if never',
    type: 'string',
    format: 'date-time',
    nullable: true,
  })
  lastVacuum!: string | null;

  @ApiProperty({
    example: '2026-11-27T09:14:03.000Z',
    description: 'Last autovacuum (pg_stat_user_tables.last_autovacuum); null if never',
    type: 'string',
    format: 'date-time',
    nullable: true,
  })
  lastAutovacuum!: string | null;

  @ApiProperty({
    description: 'Last manual ANALYZE (pg_stat_user_tables.last_analyze); null if never',
    type: 'string',
    format: 'date-time',
    nullable: true,
  })
  lastAnalyze!: string | null;

  @ApiProperty({
    example: '2026-11-27T09:14:05.000Z',
    description: 'Last autoanalyze (pg_stat_user_tables.last_autoanalyze); null if never',
    type: 'string',
    format: 'date-time',
    nullable: true,
  })
  lastAutoanalyze!: string | null;

  @ApiProperty({
    description:
      'At least 10,000 rows, more than half of its scans sequential, and at least 1,000 rows read per sequential scan: a missing index is likely',
  })
  needsIndex!: boolean;

  @ApiProperty({
    description:
      'Heap bloat of the table (see the bloat parameter); null when no figure could be made for it (see meta.warnings)',
    type: BloatDto,
    nullable: true,
  })
  bloat!: BloatDto | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    example: 1245184,
    description:
      'Bytes this table grew (heap, indexes and TOAST) over the window (newest stored size at its end less the one at its start, or the first one in it, from the ' +
      'sizes family every HISTORY_SIZES_INTERVAL); negative when it shrank; null without a window or stored sizes',
  })
  sizeGrowthBytes!: number | null;
}

export class IndexesResponseDto {
  @ApiProperty({ description: 'When and how this answer was collected, and what limited it (warnings)', type: MetaDto })
  meta!: MetaDto;

  @ApiProperty({
    example: '2026-11-20T08:00:00.000Z',
    type: 'string',
    format: 'date-time',
    nullable: true,
    description:
      'pg_stat_database.stats_reset of this database: usage counts cover the time since; null if never reset',
  })
  statsReset!: string | null;

  @ApiProperty({
    example: 604800,
    type: 'number',
    nullable: true,
    description: 'Seconds since statsReset. An index unused for two hours proves little; null if never reset',
  })
  statsAgeSeconds!: number | null;

  @ApiProperty({
    example: '2026-11-28T03:25:00.000Z',
    type: 'string',
    format: 'date-time',
    description:
      'When sizes and bloat estimates were read. They cost a visit to every relation, so they are read at most every ' +
      'SIZES_MAX_AGE_MS (default 5 min) and refreshed in the background; a relation created since is sized now',
  })
  sizesCollectedAt!: string;

  @ApiProperty({
    description: 'Totals over every index and table in scope (schema/table filters), not just this page',
    type: IndexesSummaryDto,
  })
  summary!: IndexesSummaryDto;

  @ApiProperty({
    description: 'Indexes matching the filters, in the requested order, at most `limit`',
    type: [IndexDto],
  })
  indexes!: IndexDto[];

  @ApiProperty({ description: 'Tables in scope, in the requested order, at most `limit`', type: [TableDto] })
  tables!: TableDto[];
}
