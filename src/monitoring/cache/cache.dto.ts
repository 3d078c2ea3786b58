import { DatabaseQueryDto } from '../shared/target-query.dto';
import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import { MetaDto } from '../shared/meta.dto';
import { Windowed } from '../../history/window';
import { EnumParam, IntParam, OrderParam, SortOrder, NameParam } from '../../http/query';
import { CACHE_ORDER_BY, CacheOrderBy } from './cache.sql';

export const RATIO_STATUS = ['good', 'warning', 'critical'] as const;
export type RatioStatus = (typeof RATIO_STATUS)[number];

/** The defaults of the parameters: documented by the decorators below, applied by the service. */
export const CACHE_DEFAULTS = { orderBy: 'reads' as CacheOrderBy, order: 'desc' as SortOrder, limit: 50 };

export class CacheQueryDto extends Windowed(DatabaseQueryDto, 'Ratios are over it') {
  @NameParam('Only this schema (exact name)', 'public')
  schema?: string;

  @NameParam('Only this table (exact name) and its indexes', 'orders')
  table?: string;

  @EnumParam(
    CACHE_ORDER_BY,
    'CacheOrderBy',
    'Sort key of perTable and perIndex: hitRatio (heap for tables), reads (blocks read), size (bytes), name',
    CACHE_DEFAULTS.orderBy,
  )
  orderBy?: CacheOrderBy;

  @OrderParam(CACHE_DEFAULTS.order)
  order?: SortOrder;

  @IntParam('Maximum rows in perTable, perIndex and buffers.relations', 1, 1000, CACHE_DEFAULTS.limit)
  limit?: number;

  @IntParam(
    'Only relations with at least this many blocks read (all of a table’s reads, for perTable)',
    0,
    Number.MAX_SAFE_INTEGER,
    undefined,
    1000,
  )
  minReads?: number;
}

const ratioProp = (what: string): ApiPropertyOptions => ({
  type: 'number',
  nullable: true,
  description: `${what}: hit / (hit + read), 0..1; null when hit + read is 0`,
  example: 0.97,
});
const statusProp = (what: string): ApiPropertyOptions => ({
  type: 'string',
  nullable: true,
  enum: RATIO_STATUS,
  enumName: 'RatioStatus',
  example: 'warning',
  description: `${what}: good (≥ HIT_RATIO_GOOD, default 0.99), warning (≥ HIT_RATIO_WARNING, default 0.95) or critical; null below HIT_RATIO_MIN_BLOCKS (default 1000) blocks of traffic`,
});
const blocksProp = (column: string): ApiPropertyOptions => ({ type: 'integer', format: 'int64', description: column });
const nullableBlocksProp = (column: string, when: string): ApiPropertyOptions => ({
  type: 'integer',
  format: 'int64',
  nullable: true,
  description: `${column}; null when the table has no ${when}`,
});

export class DatabaseCacheDto {
  @ApiProperty({ description: 'current_database()' })
  name!: string;

  @ApiProperty(blocksProp('pg_stat_database.blks_hit'))
  blksHit!: number;

  @ApiProperty(blocksProp('pg_stat_database.blks_read'))
  blksRead!: number;

  @ApiProperty(ratioProp('Database'))
  hitRatio!: number | null;

  @ApiProperty(statusProp('Database'))
  status!: RatioStatus | null;
}

export class ClusterCacheDto {
  @ApiProperty(blocksProp('Sum of blks_hit over all databases'))
  blksHit!: number;

  @ApiProperty(blocksProp('Sum of blks_read over all databases'))
  blksRead!: number;

  @ApiProperty(ratioProp('Cluster'))
  hitRatio!: number | null;

  @ApiProperty(statusProp('Cluster'))
  status!: RatioStatus | null;
}

export class TablesCacheDto {
  @ApiProperty(ratioProp('Heap of all user tables'))
  heapHitRatio!: number | null;

  @ApiProperty(statusProp('Heap'))
  heapStatus!: RatioStatus | null;

  @ApiProperty(ratioProp('Their indexes'))
  indexHitRatio!: number | null;

  @ApiProperty(statusProp('Indexes'))
  indexStatus!: RatioStatus | null;

  @ApiProperty(ratioProp('Their TOAST tables'))
  toastHitRatio!: number | null;

  @ApiProperty(statusProp('TOAST'))
  toastStatus!: RatioStatus | null;

  @ApiProperty(ratioProp('Their TOAST indexes'))
  toastIndexHitRatio!: number | null;

  @ApiProperty(statusProp('TOAST indexes'))
  toastIndexStatus!: RatioStatus | null;

  @ApiProperty(blocksProp('Sum of heap_blks_hit'))
  heapBlksHit!: number;

  @ApiProperty(blocksProp('Sum of heap_blks_read'))
  heapBlksRead!: number;

  @ApiProperty(blocksProp('Sum of idx_blks_hit'))
  idxBlksHit!: number;

  @ApiProperty(blocksProp('Sum of idx_blks_read'))
  idxBlksRead!: number;

  @ApiProperty(blocksProp('Sum of toast_blks_hit'))
  toastBlksHit!: number;

  @ApiProperty(blocksProp('Sum of toast_blks_read'))
  toastBlksRead!: number;
}

export class TableCacheDto {
  @ApiProperty({ description: 'Schema of the table (pg_namespace.nspname)' })
  schema!: string;

  @ApiProperty({ description: 'Table name (pg_class.relname)' })
  table!: string;

  @ApiProperty(blocksProp('heap_blks_hit'))
  heapBlksHit!: number;

  @ApiProperty(blocksProp('heap_blks_read'))
  heapBlksRead!: number;

  @ApiProperty(ratioProp('Heap'))
  heapHitRatio!: number | null;

  @ApiProperty(statusProp('Heap'))
  heapStatus!: RatioStatus | null;

  @ApiProperty(nullableBlocksProp('idx_blks_hit (all its indexes)', 'index'))
  idxBlksHit!: number | null;

  @ApiProperty(nullableBlocksProp('idx_blks_read', 'index'))
  idxBlksRead!: number | null;

  @ApiProperty(ratioProp('Its indexes'))
  idxHitRatio!: number | null;

  @ApiProperty(statusProp('Indexes'))
  idxStatus!: RatioStatus | null;

  @ApiProperty(nullableBlocksProp('toast_blks_hit', 'TOAST table'))
  toastBlksHit!: number | null;

  @ApiProperty(nullableBlocksProp('toast_blks_read', 'TOAST table'))
  toastBlksRead!: number | null;

  @ApiProperty(ratioProp('TOAST'))
  toastHitRatio!: number | null;

  @ApiProperty(statusProp('TOAST'))
  toastStatus!: RatioStatus | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'pg_total_relation_size (heap + indexes + TOAST); null while under an ACCESS EXCLUSIVE lock',
  })
  sizeBytes!: number | null;
}

export class IndexCacheDto {
  @ApiProperty({ description: 'Schema of the index (pg_namespace.nspname)' })
  schema!: string;

  @ApiProperty({ description: 'Table the index belongs to (pg_class.relname)' })
  table!: string;

  @ApiProperty({ description: 'Index name (pg_class.relname)' })
  index!: string;

  @ApiProperty(blocksProp('idx_blks_hit'))
  idxBlksHit!: number;

  @ApiProperty(blocksProp('idx_blks_read'))
  idxBlksRead!: number;

  @ApiProperty(ratioProp('Index'))
  hitRatio!: number | null;

  @ApiProperty(statusProp('Index'))
  status!: RatioStatus | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'pg_relation_size; null while under an ACCESS EXCLUSIVE lock',
  })
  sizeBytes!: number | null;
}

export class BufferRelationDto {
  @ApiProperty({ description: 'Schema of the relation (pg_namespace.nspname)' })
  schema!: string;

  @ApiProperty({ description: 'Table, index, TOAST table, … of this database or a shared catalog' })
  relation!: string;

  @ApiProperty({ description: 'table, index, toast, materialized view, sequence, …' })
  kind!: string;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Bytes of it in shared buffers' })
  bufferedBytes!: number;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'bufferedBytes / its size (all forks), 0..1; null when locked or empty',
  })
  cachedRatio!: number | null;
}

export class BuffersDto {
  @ApiProperty({ type: 'integer', format: 'int64', description: 'shared_buffers, bytes' })
  sharedBuffersBytes!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Bytes of shared buffers holding a page' })
  usedBytes!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Bytes of dirty (not yet written) pages' })
  dirtyBytes!: number;

  @ApiProperty({ type: [BufferRelationDto], description: 'Relations with the most bytes in shared buffers' })
  relations!: BufferRelationDto[];

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    example: '2026-11-28T03:25:00.000Z',
    description:
      'When pg_buffercache was read: it visits every buffer header, so it is read at most every SIZES_MAX_AGE_MS',
  })
  collectedAt!: string;
}

export class CacheResponseDto {
  @ApiProperty({ description: 'When and how this answer was collected, and what limited it (warnings)', type: MetaDto })
  meta!: MetaDto;

  @ApiProperty({
    example: '2026-11-20T08:00:00.000Z',
    type: 'string',
    format: 'date-time',
    nullable: true,
    description:
      'pg_stat_database.stats_reset: the counters cover the time since (cumulative ratios hide today’s change)',
  })
  statsReset!: string | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    example: '2026-11-28T03:25:00.000Z',
    description:
      'When the sizes (perTable, perIndex) were read: at most every SIZES_MAX_AGE_MS (default 5 min), in the ' +
      'background; a relation created since is sized now',
  })
  sizesCollectedAt!: string;

  @ApiProperty({ description: 'This database (pg_stat_database of the connected database)', type: DatabaseCacheDto })
  database!: DatabaseCacheDto;

  @ApiProperty({
    description: 'Every database of the server together (pg_stat_database summed)',
    type: ClusterCacheDto,
  })
  cluster!: ClusterCacheDto;

  @ApiProperty({ type: TablesCacheDto, description: 'All user tables in scope together' })
  tables!: TablesCacheDto;

  @ApiProperty({
    description: 'Per-table ratios for the tables matching the filters, at most `limit`',
    type: [TableCacheDto],
  })
  perTable!: TableCacheDto[];

  @ApiProperty({
    description: 'Per-index ratios for the indexes of the tables matching the filters, at most `limit`',
    type: [IndexCacheDto],
  })
  perIndex!: IndexCacheDto[];

  @ApiProperty({
    type: BuffersDto,
    nullable: true,
    description:
      'From pg_buffercache; null (with a meta.warnings entry) where it is not installed or not readable, and over a ' +
      'window (it has no history)',
  })
  buffers!: BuffersDto | null;
}
