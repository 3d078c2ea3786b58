import { ApiProperty } from '@nestjs/swagger';
import { MetaDto } from '../shared/meta.dto';

export class ExtensionCapabilityDto {
  @ApiProperty({ description: 'The extension is created in the current database (pg_extension)' })
  installed!: boolean;

  @ApiProperty({ description: 'pg_extension.extversion', type: 'string', nullable: true, example: '1.11' })
  version!: string | null;

  @ApiProperty({ description: 'Schema the extension lives in', type: 'string', nullable: true, example: 'public' })
  schema!: string | null;
}

export class PgStatStatementsCapabilityDto extends ExtensionCapabilityDto {
  @ApiProperty({
    description: 'pg_stat_statements is in shared_preload_libraries (required for it to collect anything)',
  })
  preloaded!: boolean;
}

export class CapabilitiesDto {
  @ApiProperty({
    description: 'pg_stat_statements: whether it is preloaded and created in this database, and its version',
    type: PgStatStatementsCapabilityDto,
  })
  pgStatStatements!: PgStatStatementsCapabilityDto;

  @ApiProperty({ type: ExtensionCapabilityDto, description: 'Needed for bloat=measured' })
  pgstattuple!: ExtensionCapabilityDto;

  @ApiProperty({ type: ExtensionCapabilityDto, description: 'Needed for the buffers section of /cache' })
  pgBuffercache!: ExtensionCapabilityDto;

  @ApiProperty({ description: "The pgscope role has pg_monitor's privileges (member of pg_monitor, or superuser)" })
  pgMonitor!: boolean;

  @ApiProperty({ description: 'The pgscope role is a superuser (not needed; pg_monitor is enough)' })
  superuser!: boolean;
}

export class SettingsDto {
  @ApiProperty({ description: 'track_io_timing: I/O times in pg_stat_statements and pg_stat_database are filled' })
  trackIoTiming!: boolean;

  @ApiProperty({
    description: 'track_activity_query_size in bytes: pg_stat_activity.query is cut at this length',
    type: 'integer',
    example: 1024,
  })
  trackActivityQuerySize!: number;

  @ApiProperty({
    description: 'compute_query_id (PostgreSQL 14+; null on 13)',
    type: 'string',
    nullable: true,
    enum: ['on', 'off', 'auto', 'regress'],
    example: 'auto',
  })
  computeQueryId!: string | null;
}

export class ServerOverviewDto {
  @ApiProperty({ description: 'When and how this answer was collected, and what limited it (warnings)', type: MetaDto })
  meta!: MetaDto;

  @ApiProperty({ description: 'server_version', example: '17.10' })
  version!: string;

  @ApiProperty({ description: 'server_version_num', type: 'integer', example: 170010 })
  versionNum!: number;

  @ApiProperty({ description: 'pg_postmaster_start_time()', format: 'date-time' })
  startedAt!: string;

  @ApiProperty({ description: 'Seconds since the server started', example: 86400.5 })
  uptimeSeconds!: number;

  @ApiProperty({ description: 'current_database()', example: 'app' })
  currentDatabase!: string;

  @ApiProperty({ description: 'current_user: the role pgscope connects as', example: 'pgscope' })
  currentUser!: string;

  @ApiProperty({
    description: 'pg_database_size(current_database()) in bytes; null when the role may not CONNECT to it',
    type: 'integer',
    format: 'int64',
    nullable: true,
  })
  databaseSizeBytes!: number | null;

  @ApiProperty({
    description:
      'When databaseSizeBytes was read: pg_database_size walks the directory, so it is read at most every ' +
      'SIZES_MAX_AGE_MS (default 5 min), in the background',
    format: 'date-time',
    example: '2026-11-28T03:25:00.000Z',
  })
  databaseSizeCollectedAt!: string;

  @ApiProperty({ description: 'max_connections', type: 'integer', example: 100 })
  maxConnections!: number;

  @ApiProperty({ description: 'pg_is_in_recovery(): true on a standby' })
  isInRecovery!: boolean;

  @ApiProperty({
    description: 'What pgscope can read on this server with its role: extensions, pg_monitor, superuser',
    type: CapabilitiesDto,
  })
  capabilities!: CapabilitiesDto;

  @ApiProperty({
    description: 'Server settings that change how the other endpoints read (from pg_settings)',
    type: SettingsDto,
  })
  settings!: SettingsDto;
}
