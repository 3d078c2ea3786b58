import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { INT64_PATTERN } from '../../http/query';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import {
  DatabaseSeriesQueryDto,
  DatabaseSeriesResponseDto,
  HistoryStatusResponseDto,
  SizesSeriesQueryDto,
  SizesSeriesResponseDto,
  StatementSeriesQueryDto,
  StatementSeriesResponseDto,
} from './history.dto';
import { HistorySeries } from './history.series';
import { NoQueryDto } from '../../http/api-docs';

const SERIES =
  'From the history store alone (the watched server is not asked). Each point is a bucket of `step`, aligned to ' +
  'the epoch; its figures are the deltas of the snapshots that end in it, over the seconds they cover ' +
  '(`coveredSeconds`); a bucket in a gap (meta.window.gaps) covers nothing and has null rates, never a zero. ' +
  '409 HISTORY_DISABLED with HISTORY=off.';

@ApiTags('history')
@ApiBearerAuth()
@Controller(API_BASE)
export class HistoryController {
  constructor(
    private readonly series: HistorySeries,
    private readonly targets: TargetRegistry,
  ) {}

  @Get('history')
  @ApiOperation({
    operationId: 'getHistoryStatus',
    summary: 'The history store and its collector: what is stored, since when, and how collection goes',
    description:
      'The store (embedded in HISTORY_DIR or external, its version, bytes on disk and rows), and per target, ' +
      'family (and database) the oldest and newest snapshot, the cadence, the last collection’s duration and ' +
      'rows, the skips (a collection still running when the next was due: skipped, never queued) and the last ' +
      'error. 409 HISTORY_DISABLED with HISTORY=off; 503 HISTORY_UNAVAILABLE when the store does not answer.',
  })
  @ApiMonitoringResponses(HistoryStatusResponseDto, { windowed: true })
  async status(@Query() _query: NoQueryDto): Promise<HistoryStatusResponseDto> {
    return this.series.status();
  }

  @Get('history/database')
  @ApiOperation({
    operationId: 'getDatabaseHistory',
    summary: 'pg_stat_database over time: transactions, blocks, tuples, temp files, deadlocks per second',
    description: `One database of the target (default: the database of its URL), every HISTORY_DATABASE_INTERVAL. ${SERIES}`,
  })
  @ApiMonitoringResponses(DatabaseSeriesResponseDto, { windowed: true })
  async database(@Query() query: DatabaseSeriesQueryDto): Promise<DatabaseSeriesResponseDto> {
    return this.series.database(this.targets.get(query.target), query);
  }

  @Get('history/statements/:queryId')
  @ApiOperation({
    operationId: 'getStatementHistory',
    summary: 'One statement over time: calls, mean and total time, rows, blocks per bucket',
    description:
      'Every entry of the queryid (each database and role it ran in, unless `database` or `user` picks one), ' +
      `summed, every HISTORY_STATEMENTS_INTERVAL; steps of whole hours read the hourly rollups. ${SERIES} A queryid ` +
      'the store has never seen is a 404 STATEMENT_NOT_FOUND.',
  })
  @ApiParam({
    name: 'queryId',
    description: 'The queryid (a signed 64-bit integer in decimal), as /statements gives it',
    schema: { type: 'string', pattern: INT64_PATTERN, maxLength: 20, example: '-3173676962039963833' },
  })
  @ApiMonitoringResponses(StatementSeriesResponseDto, { windowed: true })
  async statement(
    @Param('queryId') queryId: string,
    @Query() query: StatementSeriesQueryDto,
  ): Promise<StatementSeriesResponseDto> {
    return this.series.statement(this.targets.get(query.target), queryId, query);
  }

  @Get('history/sizes')
  @ApiOperation({
    operationId: 'getSizesHistory',
    summary: 'Sizes over time: the database and its largest tables',
    description:
      'pg_database_size and each table’s total size (heap, indexes, TOAST), every HISTORY_SIZES_INTERVAL, as ' +
      'levels: a point is the size at the end of its bucket (the newest stored at or before it). The tables are ' +
      `the \`limit\` largest at the window’s end. ${SERIES}`,
  })
  @ApiMonitoringResponses(SizesSeriesResponseDto, { windowed: true })
  async sizes(@Query() query: SizesSeriesQueryDto): Promise<SizesSeriesResponseDto> {
    return this.series.sizes(this.targets.get(query.target), query);
  }
}
