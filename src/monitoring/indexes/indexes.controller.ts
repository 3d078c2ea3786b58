import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { IndexesQueryDto, IndexesResponseDto } from './indexes.dto';
import { IndexesService } from './indexes.service';

@ApiTags('indexes')
@ApiBearerAuth()
@Controller(API_BASE)
export class IndexesController {
  constructor(
    private readonly indexes: IndexesService,
    private readonly targets: TargetRegistry,
  ) {}

  @Get('indexes')
  @ApiOperation({
    operationId: 'listIndexes',
    summary: 'Index and table usage: unused, duplicate, redundant and invalid indexes, tables that need one',
    description:
      'Usage counts cover the time since `statsReset` (`statsAgeSeconds`): an index unused for two hours proves ' +
      'little, and scans on standbys are not counted here (check each standby before dropping). Duplicate and ' +
      'redundant verdicts come from pg_index (columns, expressions, predicate, operator classes, collations), ' +
      'never from definition strings; a primary key is never reported as removable. Relations under an ACCESS ' +
      'EXCLUSIVE lock (a migration) are not sized: their rows come back with null sizes, named in ' +
      '`meta.warnings`, and the answer does not wait. Partitions are rows of their own; a partitioned table shows ' +
      'their sums.',
  })
  @ApiMonitoringResponses(IndexesResponseDto)
  async list(@Query() query: IndexesQueryDto): Promise<IndexesResponseDto> {
    return this.indexes.getIndexes(await this.targets.resolve(query.target, query.database), query);
  }
}
