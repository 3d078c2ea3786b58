import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems, NoQueryDto } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { Target } from '../../targets/target';
import { API_ROOT } from '../api-base';
import { capabilitiesOf } from '../overview/overview.service';
import { shortVersion } from '../shared/meta.dto';
import { HistoryService } from '../../history/history.service';
import { Leases } from '../../history/leases';
import { HistoryDisabledError } from '../../history/store';
import { InstancesResponseDto, TargetDto, TargetsResponseDto } from './targets.dto';

@ApiTags('targets')
@ApiBearerAuth()
@Controller(API_ROOT)
export class TargetsController {
  constructor(
    private readonly targets: TargetRegistry,
    private readonly leases: Leases,
    private readonly history: HistoryService,
  ) {}

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
    return {
      collectedAt: new Date().toISOString(),
      targets: this.targets.list().map((t) => toDto(t, this.leases)),
    };
  }

  @Get('instances')
  @ApiOperation({
    operationId: 'listInstances',
    summary: 'The pgscope instances sharing this history store, and how many targets each collects',
    description:
      'Instances started with the same HISTORY_DATABASE_URL share the targets: each target is collected by the ' +
      'one holding its lease (GET /targets says which). Live: renewed its leases within 60% of ' +
      'LEASE_TAKEOVER_SECONDS. Read from the store (409 HISTORY_DISABLED with HISTORY=off).',
  })
  @ApiOkResponse({ type: InstancesResponseDto })
  @ApiProblems(400, 401, 409, 429, 500, 503)
  async instances(@Query() _query: NoQueryDto): Promise<InstancesResponseDto> {
    if (!this.history.enabled) throw new HistoryDisabledError();
    const { at, instances } = await this.leases.instances();
    return {
      collectedAt: at.toISOString(),
      self: this.leases.instanceId,
      leaseSeconds: this.leases.ttlMs / 1000,
      instances: instances.map((i) => ({
        id: i.id,
        host: i.host,
        pid: i.pid,
        version: i.version,
        startedAt: i.startedAt.toISOString(),
        heartbeatAt: i.heartbeatAt.toISOString(),
        leases: i.leases,
        self: i.id === this.leases.instanceId,
      })),
    };
  }
}

function toDto(t: Target, leases: Leases): TargetDto {
  const info = t.knownInfo();
  const holder = leases.holderOf(t.name);
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
    collector: holder && {
      instance: holder.instance,
      since: holder.since.toISOString(),
      expiresAt: holder.expiresAt.toISOString(),
      self: holder.instance === leases.instanceId,
    },
    capabilities: info ? capabilitiesOf(info) : null,
  };
}
