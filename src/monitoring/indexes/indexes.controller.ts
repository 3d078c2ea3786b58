import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { IndexesQueryDto, IndexesResponseDto } from './indexes.dto';
import { IndexesService } from './indexes.service';
import { IndexesHistory } from './indexes.history';
import { HistoryService } from '../../history/history.service';

@ApiTags('indexes')
@ApiBearerAuth()
@Controller(API_BASE)
export class IndexesController {
  constructor(
    private readonly indexes: IndexesService,
    private readonly windowed: IndexesHistory,
    private readonly targets: TargetRegistry,
    private readonly history: HistoryService,
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
      'their sums.\n\nWith `window` (or `from` and `to`) the usage columns (scans, tuples read and fetched, ' +
      'sequential and index scans of tables) are deltas over the window from the history store, `unused` means ' +
      'not scanned in it (meta.window.coveredSeconds says for how long that is known: two days of history never ' +
      'claim "unused for seven days"), and `sizeGrowthBytes` says how much each relation grew. Definitions, ' +
      'verdicts, sizes and bloat are the server’s now.',
  })
  @ApiMonitoringResponses(IndexesResponseDto, { windowed: true })
  async list(@Query() query: IndexesQueryDto): Promise<IndexesResponseDto> {
    const window = this.history.window(query);
    if (window) return this.windowed.get(this.targets.get(query.target), query, window);
    return this.indexes.getIndexes(await this.targets.resolve(query.target, query.database), query);
  }
}
