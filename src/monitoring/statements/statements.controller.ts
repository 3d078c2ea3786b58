import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { StatementsQueryDto, StatementsResponseDto } from './statements.dto';
import { StatementsService } from './statements.service';

@ApiTags('statements')
@ApiBearerAuth()
@Controller(API_BASE)
export class StatementsController {
  constructor(
    private readonly statements: StatementsService,
    private readonly targets: TargetRegistry,
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
      'is not created, with the exact fix.',
  })
  @ApiMonitoringResponses(StatementsResponseDto)
  async list(@Query() query: StatementsQueryDto): Promise<StatementsResponseDto> {
    return this.statements.listStatements(await this.targets.resolve(query.target), query);
  }
}
