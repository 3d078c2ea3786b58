import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { ActivityQueryDto, ActivityResponseDto } from './activity.dto';
import { ActivityService } from './activity.service';

@ApiTags('activity')
@ApiBearerAuth()
@Controller(API_BASE)
export class ActivityController {
  constructor(
    private readonly activity: ActivityService,
    private readonly targets: TargetRegistry,
  ) {}

  @Get('activity')
  @ApiOperation({
    operationId: 'getActivity',
    summary: 'Sessions, what runs, what waits, and who blocks whom',
    description:
      'From pg_stat_activity and pg_blocking_pids(). `summary` covers every session of the server whatever the ' +
      'filters; `sessions` is the filtered, ordered, limited page (filtering, ordering and the limit happen in SQL). ' +
      'Lock chains: `blockedBy` lists the blockers of a waiting session, `blocking` the sessions it holds up, and ' +
      '`blockedCount` everything queued behind it, transitively. pg_blocking_pids() is only called for sessions ' +
      'that wait on a lock. Without pg_monitor, other roles’ sessions come back with `query: null` and a ' +
      '`meta.warnings` entry.',
  })
  @ApiMonitoringResponses(ActivityResponseDto)
  async get(@Query() query: ActivityQueryDto): Promise<ActivityResponseDto> {
    return this.activity.getActivity(await this.targets.resolve(query.target), query);
  }
}
