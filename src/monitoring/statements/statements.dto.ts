import { TargetQueryDto } from '../shared/target-query.dto';
import { ApiProperty } from '@nestjs/swagger';
import { MetaDto } from '../shared/meta.dto';
import { Windowed } from '../../history/window';
import { QueryTextMode, QueryTextProperty } from '../shared/query-text';
import {
  BooleanParam,
  EnumParam,
  INT64_PATTERN,
  IntParam,
  NameParam,
  OrderParam,
  SortOrder,
  TextParam,
} from '../../http/query';
import { STATEMENTS_ORDER_BY, StatementsOrderBy } from './statements.sql';

/** The defaults of the parameters: documented by the decorators below, applied by the service. */
export const STATEMENTS_DEFAULTS = {
  orderBy: 'totalExecTime' as StatementsOrderBy,
  order: 'desc' as SortOrder,
  limit: 50,
  offset: 0,
  excludeSelf: true,
};

export class StatementsQueryDto extends Windowed(TargetQueryDto) {
  @EnumParam(
    STATEMENTS_ORDER_BY,
    'StatementsOrderBy',
    'Sort key. ioTime = blkReadTimeMs + blkWriteTimeMs. Keys a server lacks (walBytes before 13) sort last.',
    STATEMENTS_DEFAULTS.orderBy,
  )
  orderBy?: StatementsOrderBy;

  @OrderParam(STATEMENTS_DEFAULTS.order)
  order?: SortOrder;

  @IntParam('Maximum number of statements returned', 1, 1000, STATEMENTS_DEFAULTS.limit)
  limit?: number;

  @IntParam('Statements to skip (paging)', 0, 1_000_000, STATEMENTS_DEFAULTS.offset)
  offset?: number;

  @NameParam('Only statements run in this database (datname)', 'app')
  database?: string;

  @NameParam('Only statements run by this role (rolname)', 'app_user')
  user?: string;

  @TextParam({
    description:
      'Only this queryid: a signed 64-bit integer (-9223372036854775808 to 9223372036854775807) as a decimal string',
    example: '-3173676962039963833',
    maxLength: 20,
    pattern: INT64_PATTERN,
    message: 'must be a signed 64-bit integer in decimal (-9223372036854775808 to 9223372036854775807)',
  })
  queryId?: string;

  @TextParam({
    description:
      'Only statements whose text contains this substring, case-insensitively; % and _ are literal. ' +
      'Costs a read of the whole query-text file, unlike the other filters. Only with QUERY_TEXT=full (otherwise ' +
      'a 400): matches would reveal the literals a redacted text hides.',
    example: 'orders',
    maxLength: 1000,
  })
  search?: string;

  @IntParam('Only statements called at least this many times', 0, Number.MAX_SAFE_INTEGER, undefined, 100)
  minCalls?: number;

  @BooleanParam(
    'true: only top-level statements; false: only statements nested in functions (needs pg_stat_statements.track = all). PostgreSQL 14+ (pg_stat_statements 1.9): on 13 any value is a 400, so it has no example',
    undefined,
    null,
  )
  toplevel?: boolean;

  @BooleanParam(
    "Leave out pgscope's own statements (marked /* pgscope */, and its BEGIN/COMMIT)",
    STATEMENTS_DEFAULTS.excludeSelf,
  )
  excludeSelf?: boolean;
}

export class StatementsTotalsDto {
  @ApiProperty({ type: 'integer', description: 'Entries matching the filters (all pages)' })
  statements!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Sum of calls over those entries' })
  calls!: number;

  @ApiProperty({ description: 'Sum of total_exec_time over those entries, ms' })
  totalExecTimeMs!: number;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'Sum of total_plan_time, ms (0 unless pg_stat_statements.track_planning is on); null before 1.8',
  })
  totalPlanTimeMs!: number | null;
}

const n = (description: string, nullableSince?: string): Record<string, unknown> =>
  nullableSince
    ? { type: 'number', nullable: true, description: `${description}; null before ${nullableSince}` }
    : { type: 'number', description };
const i = (description: string, nullableSince?: string): Record<string, unknown> => ({
  ...n(description, nullableSince),
  type: 'integer',
  format: 'int64',
});

/** A figure pg_stat_statements keeps over the entry's whole life: it has no delta, so a window cannot have it. */
const w = (description: string): Record<string, unknown> => ({
  type: 'number',
  nullable: true,
  description: `${description}; null over a window (pg_stat_statements keeps it since the entry started, not per interval)`,
});

/** A rate over a window. */
const rate = (description: string): Record<string, unknown> => ({
  type: 'number',
  nullable: true,
  example: 12.5,
  description: `${description} over the window (its coveredSeconds); null without a window or with nothing covered`,
});

export class StatementDto {
  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'queryid as a decimal string (64-bit); null when the role may not see it',
    example: '-3173676962039963833',
  })
  queryId!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description:
      'pg_stat_statements.query: the normalised text (constants as $1, $2 …), as QUERY_TEXT allows (see queryText); ' +
      'null when the role may not see it (see meta.warnings) or QUERY_TEXT=none',
  })
  query!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'Database the statement ran in (dbid → datname)' })
  database!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'Role that ran it (userid → rolname)' })
  user!: string | null;

  @ApiProperty({
    type: 'boolean',
    nullable: true,
    description: 'toplevel: run by a client, not nested in a function; null before 1.9 (PostgreSQL 14)',
  })
  toplevel!: boolean | null;

  @ApiProperty(i('calls'))
  calls!: number;

  @ApiProperty(i('rows: rows retrieved or affected, summed over calls'))
  rows!: number;

  @ApiProperty(n('total_exec_time (total_time before 1.8), ms'))
  totalExecTimeMs!: number;

  @ApiProperty(n('mean_exec_time, ms (= totalExecTimeMs / calls)'))
  meanExecTimeMs!: number;

  @ApiProperty(w('min_exec_time, ms'))
  minExecTimeMs!: number | null;

  @ApiProperty(w('max_exec_time, ms'))
  maxExecTimeMs!: number | null;

  @ApiProperty(w('stddev_exec_time, ms'))
  stddevExecTimeMs!: number | null;

  @ApiProperty(n('total_plan_time, ms (0 unless pg_stat_statements.track_planning is on)', '1.8'))
  totalPlanTimeMs!: number | null;

  @ApiProperty(i('plans: times planned', '1.8'))
  plans!: number | null;

  @ApiProperty(n('Share of the execution time of all entries, 0..100; null when all entries total 0 ms'))
  percentOfTotalTime!: number | null;

  @ApiProperty(i('shared_blks_hit'))
  sharedBlksHit!: number;

  @ApiProperty(i('shared_blks_read'))
  sharedBlksRead!: number;

  @ApiProperty(i('shared_blks_dirtied'))
  sharedBlksDirtied!: number;

  @ApiProperty(i('shared_blks_written'))
  sharedBlksWritten!: number;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'sharedBlksHit / (sharedBlksHit + sharedBlksRead), 0..1; null when no shared blocks were touched',
  })
  cacheHitRatio!: number | null;

  @ApiProperty(i('local_blks_hit'))
  localBlksHit!: number;

  @ApiProperty(i('local_blks_read'))
  localBlksRead!: number;

  @ApiProperty(i('temp_blks_read'))
  tempBlksRead!: number;

  @ApiProperty(i('temp_blks_written: spill to temporary files'))
  tempBlksWritten!: number;

  @ApiProperty(
    n(
      'Time reading blocks, ms: blk_read_time, or shared_blk_read_time + local_blk_read_time from 1.11 (PostgreSQL 17); 0 unless track_io_timing is on',
    ),
  )
  blkReadTimeMs!: number;

  @ApiProperty(n('Time writing blocks, ms (as blkReadTimeMs)'))
  blkWriteTimeMs!: number;

  @ApiProperty(i('wal_records', '1.8 (PostgreSQL 13)'))
  walRecords!: number | null;

  @ApiProperty(i('wal_bytes', '1.8 (PostgreSQL 13)'))
  walBytes!: number | null;

  @ApiProperty(i('jit_functions', '1.10 (PostgreSQL 15)'))
  jitFunctions!: number | null;

  @ApiProperty(
    n('JIT time, ms: generation + inlining + optimization + emission (+ deform from 1.11)', '1.10 (PostgreSQL 15)'),
  )
  jitTimeMs!: number | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'stats_since: when this entry started counting; null before 1.11 (PostgreSQL 17), and over a window',
  })
  statsSince!: string | null;

  @ApiProperty(rate('Calls per second'))
  callsPerSecond!: number | null;

  @ApiProperty(rate('Execution time per second of wall time, ms/s (1000 = one backend busy all the time)'))
  execTimeMsPerSecond!: number | null;
}

export class StatementsResponseDto {
  @ApiProperty({ description: 'When and how this answer was collected, and what limited it (warnings)', type: MetaDto })
  meta!: MetaDto;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'pg_stat_statements_info.stats_reset: counters cover the time since; null before 1.9 (PostgreSQL 14)',
  })
  statsReset!: string | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description:
      'pg_stat_statements_info.dealloc: entries evicted because pg_stat_statements.max was reached (their counts are lost); ' +
      'over a window, the evictions in it (see meta.window.possiblyIncomplete); null before 1.9',
  })
  deallocations!: number | null;

  @ApiProperty({ type: StatementsTotalsDto, description: 'Over every entry matching the filters, not just this page' })
  totals!: StatementsTotalsDto;

  @QueryTextProperty()
  queryText!: QueryTextMode;

  @ApiProperty({
    description: 'Statements matching the filters, in the requested order, from `offset`, at most `limit`',
    type: [StatementDto],
  })
  statements!: StatementDto[];
}
