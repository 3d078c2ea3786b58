import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { VacuumQueryDto, VacuumResponseDto } from './vacuum.dto';
import { VacuumService } from './vacuum.service';

@ApiTags('maintenance')
@ApiBearerAuth()
@Controller(API_BASE)
export class VacuumController {
  constructor(
    private readonly vacuum: VacuumService,
    private readonly targets: TargetRegistry,
  ) {}

  @Get('vacuum')
  @ApiOperation({
    operationId: 'getVacuum',
    summary: 'Maintenance: wraparound, autovacuum’s verdict per table, the xmin horizon and who holds it, progress',
    description:
      'Per database of the server, how far its oldest XID and multixact are from a forced vacuum ' +
      '(autovacuum_freeze_max_age) and from the point where the server refuses writes (2^31 − 1 less the stop ' +
      'margin: 3,000,000 since 14, 1,000,000 XIDs on 13). Per table of `database`, the most urgent first: ' +
      'autovacuum’s own thresholds (base + scale_factor × reltuples in float4, the table’s reloptions overriding ' +
      'the server’s settings; on 18 the vacuum threshold capped by autovacuum_vacuum_max_threshold and the insert ' +
      'threshold scaled by the unfrozen pages) and its verdict with the reason. The xmin horizon: every session, ' +
      'replication slot, prepared transaction and hot_standby_feedback standby that holds it, the oldest first, each ' +
      'with the statement that would release it (a hint: pgscope never runs it). The long operations running now ' +
      '(pg_stat_progress_*) with phase, share done and an ETA at the rate so far, and the sequences nearest their ' +
      'end. Live: read in one transaction.',
  })
  @ApiMonitoringResponses(VacuumResponseDto)
  async get(@Query() query: VacuumQueryDto): Promise<VacuumResponseDto> {
    return this.vacuum.getVacuum(await this.targets.resolve(query.target, query.database), query);
  }
}
