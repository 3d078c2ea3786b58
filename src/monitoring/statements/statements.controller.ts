import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { StatementsQueryDto, StatementsResponseDto } from './statements.dto';
import { StatementsService } from './statements.service';
import { StatementsHistory } from './statements.history';
import { HistoryService } from '../../history/history.service';

@ApiTags('statements')
@ApiBearerAuth()
@Controller(API_BASE)
export class StatementsController {
  constructor(
    private readonly statements: StatementsService,
    private readonly windowed: StatementsHistory,
    private readonly targets: TargetRegistry,
    private readonly history: HistoryService,
  ) {}

  @Get('statements')
  @ApiOperation({
    operationId: 'listStatements',
    summary: 'The statements that cost the most (pg_stat_statements)',
    description:
      'Counters of pg_stat_statements since its last reset (`statsReset`), one schema for extension versions ' +
      '1.4 to 1.12: a column the installed version lacks is null. Filtering, ordering and paging happen in SQL on ' +
      'the counters alone; texts are then read only for entries pgscope has not seen before (PostgreSQL reads its ' +
      'whole text file for any call with texts), except with `search`, which must read every text. Statistics are ' +
      'never reset. 503 PG_STAT_STATEMENTS_UNAVAILABLE says whether the library is not preloaded or the extension ' +
      'is not created, with the exact fix.\n\nWith `window` (or `from` and `to`) every counter is its delta over ' +
      'the window, from the history store (the watched server is not asked), with `callsPerSecond` and ' +
      '`execTimeMsPerSecond`; `meta.window` says what the deltas cover and names the gaps (a restart, a reset, ' +
      'an eviction). Min, max and stddev have no delta: null over a window.',
  })
  @ApiMonitoringResponses(StatementsResponseDto, { windowed: true })
  async list(@Query() query: StatementsQueryDto): Promise<StatementsResponseDto> {
    const window = this.history.window(query);
    if (window) return this.windowed.list(this.targets.get(query.target), query, window);
    return this.statements.listStatements(await this.targets.resolve(query.target), query);
  }
}
