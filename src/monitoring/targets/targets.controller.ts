import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems, NoQueryDto } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { Target } from '../../targets/target';
import { API_ROOT } from '../api-base';
import { capabilitiesOf } from '../overview/overview.service';
import { shortVersion } from '../shared/meta.dto';
import { TargetDto, TargetsResponseDto } from './targets.dto';

@ApiTags('targets')
@ApiBearerAuth()
@Controller(API_ROOT)
export class TargetsController {
  constructor(private readonly targets: TargetRegistry) {}

  @Get('targets')
  @ApiOperation({
    operationId: 'listTargets',
    summary: 'The watched servers: their databases, status and what pgscope can read there',
    description:
      'Every configured target with its labels, the databases it watches (discovered with `databases: all`), its ' +
      'status from its last read or periodic check (up, down with the failure, auth_failed), when it last ' +
      'answered, and its capabilities. Answered from what pgscope knows, without asking any server: it costs the ' +
      'same with a hundred targets down. No URL or credential appears.',
  })
  @ApiOkResponse({ type: TargetsResponseDto })
  @ApiProblems(400, 401, 429, 500)
  list(@Query() _query: NoQueryDto): TargetsResponseDto {
    return { collectedAt: new Date().toISOString(), targets: this.targets.list().map(toDto) };
  }
}

function toDto(t: Target): TargetDto {
  const info = t.knownInfo();
  const { state, lastError, lastContactAt } = t.state;
  return {
    name: t.name,
    labels: t.config.labels,
    database: t.config.database,
    databases: t.databases(),
    discovery: t.config.databases.kind,
    status: state,
    lastError: lastError && { code: lastError.code, at: lastError.at.toISOString() },
    lastContactAt: lastContactAt?.toISOString() ?? null,
    serverVersion: info ? shortVersion(info.version) : null,
    poolMax: t.pool.max,
    connections: t.pool.size,
    capabilities: info ? capabilitiesOf(info) : null,
  };
}
