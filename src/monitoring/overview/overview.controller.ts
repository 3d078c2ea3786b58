import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { TargetQueryDto } from '../shared/target-query.dto';
import { API_BASE } from '../api-base';
import { ServerOverviewDto } from './overview.dto';
import { OverviewService } from './overview.service';

@ApiTags('overview')
@ApiBearerAuth()
@Controller(API_BASE)
export class OverviewController {
  constructor(
    private readonly overview: OverviewService,
    private readonly targets: TargetRegistry,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'getServerOverview',
    summary: 'Server overview',
    description:
      'Version, uptime, database size, connection limit, and what pgscope can see on this server: ' +
      'which extensions are installed, whether pg_stat_statements is preloaded, and the role’s privileges.',
  })
  @ApiMonitoringResponses(ServerOverviewDto)
  async get(@Query() query: TargetQueryDto): Promise<ServerOverviewDto> {
    return this.overview.getOverview(await this.targets.resolve(query.target));
  }
}
