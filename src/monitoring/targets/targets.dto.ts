import { ApiProperty } from '@nestjs/swagger';
import { TARGET_STATES, TargetState } from '../../targets/target';
import { CapabilitiesDto } from '../overview/overview.dto';

export class TargetErrorDto {
  @ApiProperty({
    description: 'The failure: a SQLSTATE (28P01 a refused password) or a socket error (ECONNREFUSED, CONNECT_TIMEOUT)',
    example: 'ECONNREFUSED',
  })
  code!: string;

  @ApiProperty({ description: 'When it happened (ISO 8601)', format: 'date-time', example: '2026-11-28T03:29:00.000Z' })
  at!: string;
}

export class TargetCollectorDto {
  @ApiProperty({
    description: 'The instance (INSTANCE_ID) holding its lease: the one writing its history',
    example: 'pgscope-a',
  })
  instance!: string;

  @ApiProperty({
    description: 'Since when it holds the lease (ISO 8601)',
    format: 'date-time',
    example: '2026-11-28T03:00:00.000Z',
  })
  since!: string;

  @ApiProperty({
    description: 'When the lease ends unless renewed (ISO 8601): another instance takes it over after that',
    format: 'date-time',
    example: '2026-11-28T03:29:19.000Z',
  })
  expiresAt!: string;

  @ApiProperty({ description: 'Whether the instance answering collects it', example: true })
  self!: boolean;
}

export class TargetDto {
  @ApiProperty({
    description: 'The configured name: the `target` parameter of every monitoring operation',
    example: 'default',
  })
  name!: string;

  @ApiProperty({
    description: 'The configured labels (env, team, …)',
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { env: 'prod', team: 'payments' },
  })
  labels!: Record<string, string>;

  @ApiProperty({ description: 'The database of its URL: the default of `database`', example: 'app' })
  database!: string;

  @ApiProperty({
    description:
      'The databases it watches: the `database` values per-database operations accept (with `databases: all`, ' +
      'those it may connect to, as last discovered)',
    type: [String],
    example: ['app', 'reporting'],
  })
  databases!: string[];

  @ApiProperty({
    description: 'How its databases are chosen: all (discovered), list (configured), url (its URL database only)',
    enum: ['all', 'list', 'url'],
    enumName: 'DatabasesSetting',
    example: 'all',
  })
  discovery!: 'all' | 'list' | 'url';

  @ApiProperty({
    description:
      'From its last read or check: up (it answered), down (unreachable: see lastError), auth_failed (it refused ' +
      "pgscope's login), unknown (not reached yet)",
    enum: TARGET_STATES,
    enumName: 'TargetState',
    example: 'up',
  })
  status!: TargetState;

  @ApiProperty({ type: TargetErrorDto, nullable: true, description: 'The last failure to reach it; null if none' })
  lastError!: TargetErrorDto | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'When it last answered; null if never',
    example: '2026-11-28T03:29:10.000Z',
  })
  lastContactAt!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'server_version, once learnt', example: '17.10' })
  serverVersion!: string | null;

  @ApiProperty({
    type: 'integer',
    description: 'Connections pgscope may open to it, over all its databases',
    example: 4,
  })
  poolMax!: number;

  @ApiProperty({ type: 'integer', description: 'Connection slots in use now (at most poolMax)', example: 1 })
  connections!: number;

  @ApiProperty({
    type: TargetCollectorDto,
    nullable: true,
    description:
      'Which instance collects it into the history store (instances sharing one store each collect their share of ' +
      'the targets), as of the last lease renewal; null with history off or before the first renewal',
  })
  collector!: TargetCollectorDto | null;

  @ApiProperty({
    type: CapabilitiesDto,
    nullable: true,
    description: 'What pgscope can read in its URL database with its role; null until it has been reached',
  })
  capabilities!: CapabilitiesDto | null;
}

export class TargetsResponseDto {
  @ApiProperty({
    description: 'When this answer was made (from what pgscope knows: no server is asked)',
    format: 'date-time',
  })
  collectedAt!: string;

  @ApiProperty({ type: [TargetDto], description: 'Every target, in the configured order' })
  targets!: TargetDto[];
}

export class InstanceDto {
  @ApiProperty({ description: 'Its INSTANCE_ID (default: host name and pid)', example: 'pgscope-a' })
  id!: string;

  @ApiProperty({ description: 'The host it runs on', example: 'monitor-1' })
  host!: string;

  @ApiProperty({ type: 'integer', description: 'Its process id', example: 4242 })
  pid!: number;

  @ApiProperty({ description: 'Its pgscope version', example: '0.1.0' })
  version!: string;

  @ApiProperty({ description: 'When it started (ISO 8601)', format: 'date-time', example: '2026-11-28T03:00:00.000Z' })
  startedAt!: string;

  @ApiProperty({
    description: "When it last renewed its leases (ISO 8601, the store's clock)",
    format: 'date-time',
    example: '2026-11-28T03:29:10.000Z',
  })
  heartbeatAt!: string;

  @ApiProperty({ type: 'integer', description: 'Targets it collects now (leases held)', example: 4 })
  leases!: number;

  @ApiProperty({ description: 'Whether it is the instance answering', example: true })
  self!: boolean;
}

export class InstancesResponseDto {
  @ApiProperty({ description: "When this answer was made (the store's clock)", format: 'date-time' })
  collectedAt!: string;

  @ApiProperty({ description: 'The INSTANCE_ID of the instance answering', example: 'pgscope-a' })
  self!: string;

  @ApiProperty({
    description: 'How long a lease lasts unless renewed (60% of LEASE_TAKEOVER_SECONDS), in seconds',
    example: 9,
  })
  leaseSeconds!: number;

  @ApiProperty({ type: [InstanceDto], description: 'The live instances, by id' })
  instances!: InstanceDto[];
}
