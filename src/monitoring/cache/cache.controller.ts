import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { CacheQueryDto, CacheResponseDto } from './cache.dto';
import { CacheService } from './cache.service';
import { CacheHistory } from './cache.history';
import { HistoryService } from '../../history/history.service';

@ApiTags('cache')
@ApiBearerAuth()
@Controller(API_BASE)
export class CacheController {
  constructor(
    private readonly cache: CacheService,
    private readonly windowed: CacheHistory,
    private readonly targets: TargetRegistry,
    private readonly history: HistoryService,
  ) {}

  @Get('cache')
  @ApiOperation({
    operationId: 'getCache',
    summary: 'Cache hit rates: database, cluster, tables, indexes, and what is in shared buffers',
    description:
      'Every ratio is hit / (hit + read), 0..1, null without traffic, cumulative since `statsReset`. A "read" is a ' +
      'block PostgreSQL did not find in shared buffers: it may still have come from the operating system’s page ' +
      'cache, which these counters cannot see. Below about 0.99 for an OLTP database, the working set does not ' +
      'fit in shared_buffers. `status` judges a ratio only with at least HIT_RATIO_MIN_BLOCKS blocks of traffic. ' +
      '`buffers` reads pg_buffercache (every buffer header: its cost grows with shared_buffers).\n\nWith `window` ' +
      '(or `from` and `to`) every ratio is over the window, from the deltas of the block counters in the history ' +
      'store (tables and indexes every HISTORY_RELATIONS_INTERVAL, the database and the cluster every ' +
      'HISTORY_DATABASE_INTERVAL): this afternoon’s cold reads, not a ratio since March. The watched server is not ' +
      'asked; `buffers` (pg_buffercache has no history) is null, sizes are the newest stored.',
  })
  @ApiMonitoringResponses(CacheResponseDto, { windowed: true })
  async get(@Query() query: CacheQueryDto): Promise<CacheResponseDto> {
    const window = this.history.window(query);
    if (window) return this.windowed.get(this.targets.get(query.target), query, window);
    return this.cache.getCache(await this.targets.resolve(query.target, query.database), query);
  }
}
