import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses, NoQueryDto } from '../../http/api-docs';
import { API_BASE } from '../api-base';
import { ServerOverviewDto } from './overview.dto';
import { OverviewService } from './overview.service';

@ApiTags('overview')
@ApiBearerAuth()
@Controller(API_BASE)
export class OverviewController {
  constructor(private readonly overview: OverviewService) {}

  @Get()
  @ApiOperation({
    operationId: 'getServerOverview',
    summary: 'Server overview',
    description:
      'Version, uptime, database size, connection limit, and what pgscope can see on this server: ' +
      'which extensions are installed, whether pg_stat_statements is preloaded, and the role’s privileges.',
  })
  @ApiMonitoringResponses(ServerOverviewDto)
  get(@Query() _query: NoQueryDto): Promise<ServerOverviewDto> {
    return this.overview.getOverview();
  }
}
