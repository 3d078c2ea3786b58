import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import { Windowed } from '../../history/window';
import { IntParam, NameParam, TextParam } from '../../http/query';
import { MetaDto } from '../shared/meta.dto';
import { DatabaseQueryDto, TargetQueryDto } from '../shared/target-query.dto';

const STEP = {
  maxLength: 9,
  pattern: '^[1-9][0-9]{0,6}(s|m|h|d)$',
  message: 'must be a span such as 1m, 5m or 1h',
};

const stepDescription = (cadence: string) =>
  `Width of each point (buckets aligned to the epoch): 1m, 5m, 1h … at least ${cadence}; default: the window in ` +
  'about 120 points, at least the cadence';

/** The series of pg_stat_database: a window (default the last hour) in points of `step`. */
export class DatabaseSeriesQueryDto extends Windowed(DatabaseQueryDto, 'The series covers it (default 1h)') {
  @TextParam({ ...STEP, description: stepDescription('HISTORY_DATABASE_INTERVAL (default 60 s)'), example: '5m' })
  step?: string;
}

export class StatementSeriesQueryDto extends Windowed(TargetQueryDto, 'The series covers it (default 1h)') {
  @TextParam({ ...STEP, description: stepDescription('HISTORY_STATEMENTS_INTERVAL (default 60 s)'), example: '5m' })
  step?: string;

  @NameParam('Only the entry of this database (datname): the same queryid may run in several', 'app')
  database?: string;

  @NameParam('Only the entry of this role (rolname)', 'app_user')
  user?: string;
}

export class SizesSeriesQueryDto extends Windowed(DatabaseQueryDto, 'The series covers it (default 1d)') {
  @TextParam({ ...STEP, description: stepDescription('HISTORY_SIZES_INTERVAL (default 30 min)'), example: '1h' })
  step?: string;

  @IntParam('How many of the largest relations (by their newest size in the window) get a series', 0, 100, 10)
  limit?: number;
}

const perSecond = (what: string, example = 12.5): ApiPropertyOptions => ({
  type: 'number',
  nullable: true,
  example,
  description: `${what} per second over the point's covered seconds; null when nothing of it is covered (a gap)`,
});

export class DatabasePointDto {
  @ApiProperty({ description: 'Start of the bucket', format: 'date-time', example: '2026-11-28T03:05:00.000Z' })
  at!: string;

  @ApiProperty({
    description: 'Seconds of the bucket its deltas cover (whole intervals between snapshots that end in it)',
    example: 300,
  })
  coveredSeconds!: number;

  @ApiProperty(perSecond('Transactions (commits + rollbacks)', 48.2))
  transactionsPerSecond!: number | null;

  @ApiProperty(perSecond('xact_commit', 47.9))
  commitsPerSecond!: number | null;

  @ApiProperty(perSecond('xact_rollback', 0.3))
  rollbacksPerSecond!: number | null;

  @ApiProperty(perSecond('blks_hit', 5120))
  blocksHitPerSecond!: number | null;

  @ApiProperty(perSecond('blks_read', 12))
  blocksReadPerSecond!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    example: 0.998,
    description: 'blks_hit / (blks_hit + blks_read) in the bucket, 0..1; null without traffic',
  })
  hitRatio!: number | null;

  @ApiProperty(perSecond('tup_returned', 20480))
  tuplesReturnedPerSecond!: number | null;

  @ApiProperty(perSecond('tup_fetched', 910))
  tuplesFetchedPerSecond!: number | null;

  @ApiProperty(perSecond('tup_inserted', 35))
  tuplesInsertedPerSecond!: number | null;

  @ApiProperty(perSecond('tup_updated', 20))
  tuplesUpdatedPerSecond!: number | null;

  @ApiProperty(perSecond('tup_deleted', 2))
  tuplesDeletedPerSecond!: number | null;

  @ApiProperty(perSecond('temp_files', 0))
  tempFilesPerSecond!: number | null;

  @ApiProperty(perSecond('temp_bytes', 0))
  tempBytesPerSecond!: number | null;

  @ApiProperty(perSecond('deadlocks', 0))
  deadlocksPerSecond!: number | null;
}

export class DatabaseSeriesResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected; meta.window its coverage' })
  meta!: MetaDto;

  @ApiProperty({ description: 'The database (datname)', example: 'shop' })
  database!: string;

  @ApiProperty({ type: 'integer', description: 'Width of each point, seconds', example: 300 })
  stepSeconds!: number;

  @ApiProperty({ type: [DatabasePointDto], description: 'One point per bucket of the window, oldest first' })
  points!: DatabasePointDto[];
}

export class StatementPointDto {
  @ApiProperty({ description: 'Start of the bucket', format: 'date-time', example: '2026-11-28T03:05:00.000Z' })
  at!: string;

  @ApiProperty({ description: 'Seconds of the bucket its deltas cover', example: 300 })
  coveredSeconds!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Calls in the bucket', example: 1200 })
  calls!: number;

  @ApiProperty(perSecond('Calls', 4))
  callsPerSecond!: number | null;

  @ApiProperty({ description: 'Execution time in the bucket, ms', example: 3600.5 })
  totalExecTimeMs!: number;

  @ApiProperty({
    type: 'number',
    nullable: true,
    example: 3,
    description: 'totalExecTimeMs / calls in the bucket, ms; null without calls',
  })
  meanExecTimeMs!: number | null;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Rows in the bucket', example: 1200 })
  rows!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'shared_blks_hit in the bucket', example: 4800 })
  sharedBlksHit!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'shared_blks_read in the bucket', example: 3 })
  sharedBlksRead!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'temp_blks_written in the bucket', example: 0 })
  tempBlksWritten!: number;
}

export class StatementSeriesResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected; meta.window its coverage' })
  meta!: MetaDto;

  @ApiProperty({ description: 'The queryid asked for', example: '-3173676962039963833' })
  queryId!: string;

  @ApiProperty({
    type: 'string',
    nullable: true,
    example: 'select * from orders where id = $1',
    description: 'Its text as stored (as QUERY_TEXT allows: redacted, or null with none)',
  })
  query!: string | null;

  @ApiProperty({
    type: [String],
    description: 'The databases it ran in (the entries summed, or the one asked for)',
    example: ['shop'],
  })
  databases!: string[];

  @ApiProperty({ type: [String], description: 'The roles that ran it', example: ['app_user'] })
  users!: string[];

  @ApiProperty({ type: 'integer', description: 'Width of each point, seconds', example: 300 })
  stepSeconds!: number;

  @ApiProperty({ type: [StatementPointDto], description: 'One point per bucket of the window, oldest first' })
  points!: StatementPointDto[];
}

export class SizePointDto {
  @ApiProperty({ description: 'Start of the bucket', format: 'date-time', example: '2026-11-28T03:00:00.000Z' })
  at!: string;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    example: 104857600,
    description: 'The size at the end of the bucket (the newest stored at or before it); null before the first one',
  })
  bytes!: number | null;
}

export class RelationSizeSeriesDto {
  @ApiProperty({ description: 'Schema (pg_namespace.nspname)', example: 'public' })
  schema!: string;

  @ApiProperty({ description: 'Relation name', example: 'orders' })
  name!: string;

  @ApiProperty({ description: 'table, materialized view or index', example: 'table' })
  kind!: string;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    example: 52428800,
    description: 'Its newest size in the window (a table: heap, indexes and TOAST)',
  })
  bytes!: number | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    example: 1048576,
    description: 'Its growth over the window (the newest size less the first); null with one size or none',
  })
  growthBytes!: number | null;

  @ApiProperty({ type: [SizePointDto], description: 'One point per bucket, oldest first' })
  points!: SizePointDto[];
}

export class SizesSeriesResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected; meta.window its coverage' })
  meta!: MetaDto;

  @ApiProperty({ description: 'The database (datname)', example: 'shop' })
  database!: string;

  @ApiProperty({ type: 'integer', description: 'Width of each point, seconds', example: 3600 })
  stepSeconds!: number;

  @ApiProperty({ type: [SizePointDto], description: 'pg_database_size over the window' })
  databaseSize!: SizePointDto[];

  @ApiProperty({ type: [RelationSizeSeriesDto], description: 'The largest relations, largest first' })
  relations!: RelationSizeSeriesDto[];
}

export class StoreDto {
  @ApiProperty({
    enum: ['embedded', 'external'],
    enumName: 'StoreKind',
    description: 'embedded (HISTORY_DIR) or external (HISTORY_DATABASE_URL)',
    example: 'embedded',
  })
  kind!: 'embedded' | 'external';

  @ApiProperty({ type: 'string', nullable: true, description: "The store's server_version", example: '18.1' })
  version!: string | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'The migration the store is at', example: 1 })
  schemaVersion!: number | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'Bytes on disk (pg_database_size of the store)',
    example: 73400320,
  })
  bytes!: number | null;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    description: 'Approximate rows per table (pg_class.reltuples, summed over partitions)',
    example: { statement_deltas: 182000, snapshots: 5600 },
  })
  rows!: Record<string, number>;

  @ApiProperty({ type: 'integer', description: 'HISTORY_RETENTION_DAYS: older partitions are dropped', example: 14 })
  retentionDays!: number;
}

export class CollectionErrorDto {
  @ApiProperty({ description: 'An error code (SQLSTATE, or HISTORY_UNAVAILABLE, UNAVAILABLE …)', example: '57014' })
  code!: string;

  @ApiProperty({ description: 'What failed', example: 'canceling statement due to statement timeout' })
  message!: string;

  @ApiProperty({ description: 'When', format: 'date-time', example: '2026-11-28T03:25:00.000Z' })
  at!: string;
}

export class CollectionDto {
  @ApiProperty({ description: 'Target name', example: 'demo' })
  target!: string;

  @ApiProperty({
    enum: ['statements', 'database', 'relations', 'sizes'],
    enumName: 'HistoryFamily',
    description: 'The family of snapshots',
    example: 'statements',
  })
  family!: string;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'The database, for the per-database families (relations, sizes)',
    example: 'shop',
  })
  database!: string | null;

  @ApiProperty({ type: 'integer', description: 'The cadence, seconds', example: 60 })
  intervalSeconds!: number;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'The oldest snapshot in the store',
    example: '2026-11-14T03:25:00.000Z',
  })
  oldest!: string | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'The newest snapshot in the store',
    example: '2026-11-28T03:25:00.000Z',
  })
  newest!: string | null;

  @ApiProperty({ type: 'integer', description: 'Snapshots written by this process', example: 42 })
  collections!: number;

  @ApiProperty({
    type: 'integer',
    description: 'Collections skipped because the previous one still ran (never queued)',
    example: 0,
  })
  skips!: number;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'Duration of the last collection, ms',
    example: 35.2,
  })
  lastDurationMs!: number | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'Rows it stored', example: 120 })
  lastRows!: number | null;

  @ApiProperty({ type: CollectionErrorDto, nullable: true, description: 'The last failure; null once one succeeds' })
  lastError!: CollectionErrorDto | null;
}

export class HistoryStatusResponseDto {
  @ApiProperty({ type: StoreDto, description: 'The history store' })
  store!: StoreDto;

  @ApiProperty({
    type: [CollectionDto],
    description: 'Per target, family (and database): what is stored and how the collector does',
  })
  collections!: CollectionDto[];
}
