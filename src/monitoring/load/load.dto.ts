import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import { Windowed } from '../../history/window';
import { EnumParam, IntParam, TextParam } from '../../http/query';
import { MetaDto } from '../shared/meta.dto';
import { TargetQueryDto } from '../shared/target-query.dto';

export const LOAD_DIMENSIONS = ['waitEventType', 'waitEvent', 'queryId', 'database', 'user', 'application'] as const;
export type LoadDimension = (typeof LOAD_DIMENSIONS)[number];

export const LOAD_DEFAULTS = { groupBy: 'waitEventType' as LoadDimension, limit: 10 };

const STEP = {
  maxLength: 9,
  pattern: '^[1-9][0-9]{0,6}(s|m|h|d)$',
  message: 'must be a span such as 10s, 1m or 1h',
};

export class LoadQueryDto extends Windowed(TargetQueryDto, 'The load over it (default 1h)') {
  @TextParam({
    ...STEP,
    description:
      'Width of each point: at least LOAD_BUCKET_SECONDS (default 10 s), buckets aligned to the epoch; default about ' +
      '120 points over the window',
    example: '1m',
  })
  step?: string;

  @EnumParam(
    LOAD_DIMENSIONS,
    'LoadDimension',
    'What the load is split by: waitEventType (CPU, Lock, LWLock, IO …), waitEvent (Lock:transactionid …), queryId ' +
      '(the statement; its redacted text where it has no query_id: always on PostgreSQL 13, and on 14+ while a ' +
      'statement waits on a lock its parse analysis takes), database, user or application',
    LOAD_DEFAULTS.groupBy,
  )
  groupBy?: LoadDimension;

  @IntParam('How many groups (the largest over the window); the rest is summed in otherActiveSessions', 1, 100, 10)
  limit?: number;
}

export class LoadTopQueryDto extends Windowed(TargetQueryDto, 'The load over it (default 15m)') {
  @EnumParam(LOAD_DIMENSIONS, 'LoadDimension', 'The dimension whose top contributors are listed', 'queryId')
  by?: LoadDimension;

  @IntParam('How many contributors', 1, 100, 10)
  limit?: number;
}

export class LocksQueryDto extends Windowed(TargetQueryDto, 'The chains seen in it (default 1h)') {
  @IntParam('How many chains, newest first', 1, 1000, 50)
  limit?: number;
}

const aas = (what: string, example = 1.5): ApiPropertyOptions => ({
  type: 'number',
  example,
  description: `${what}: average active sessions (sessions seen, summed over the samples, divided by the samples)`,
});

export class LoadGroupDto {
  @ApiProperty({
    type: 'string',
    nullable: true,
    description:
      'The group: a wait event type (CPU: active and waiting on nothing instrumented — CPU, or a wait PostgreSQL does ' +
      'not report), type:event, a queryId (its redacted text where it has none: on 13, or before parse analysis ends), a database, user or application name; null ' +
      'where the session had none',
    example: 'CPU',
  })
  key!: string | null;

  @ApiProperty(aas('Its load'))
  activeSessions!: number;
}

export class LoadPointDto {
  @ApiProperty({ description: 'Start of the bucket', format: 'date-time', example: '2026-11-28T02:50:00.000Z' })
  at!: string;

  @ApiProperty({ type: 'integer', description: 'Samples in the bucket (0: not sampled, a gap)', example: 60 })
  samples!: number;

  @ApiProperty({
    type: 'number',
    nullable: true,
    example: 3.2,
    description: 'Active sessions (client backends and parallel workers), averaged; null without samples',
  })
  activeSessions!: number | null;

  @ApiProperty({ type: [LoadGroupDto], description: 'The load of each of the window’s largest groups' })
  groups!: LoadGroupDto[];

  @ApiProperty({ type: 'number', nullable: true, example: 0.1, description: 'The load of the other groups' })
  otherActiveSessions!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    example: 0.4,
    description: 'Parallel workers among activeSessions (each counted under its leader’s statement)',
  })
  parallelWorkers!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    example: 1,
    description: 'Autovacuum workers, averaged (not in activeSessions)',
  })
  autovacuumWorkers!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    example: 0.5,
    description: 'Sessions idle in a transaction, averaged: no CPU, but they hold locks and the xmin horizon',
  })
  idleInTransactionSessions!: number | null;
}

export class LoadTotalsDto {
  @ApiProperty(aas('Over the window'))
  activeSessions!: number;

  @ApiProperty({ type: [LoadGroupDto], description: 'The largest groups over the window, largest first' })
  groups!: LoadGroupDto[];

  @ApiProperty(aas('The other groups', 0.1))
  otherActiveSessions!: number;

  @ApiProperty(aas('Autovacuum workers', 1))
  autovacuumWorkers!: number;

  @ApiProperty(aas('Idle in transaction', 0.5))
  idleInTransactionSessions!: number;

  @ApiProperty({ type: 'integer', format: 'int64', description: 'Samples over the window', example: 3600 })
  samples!: number;
}

export class LoadResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected; meta.window its coverage' })
  meta!: MetaDto;

  @ApiProperty({ enum: LOAD_DIMENSIONS, enumName: 'LoadDimension', description: 'The split', example: 'waitEventType' })
  groupBy!: LoadDimension;

  @ApiProperty({ type: 'integer', description: 'Width of each point, seconds', example: 60 })
  stepSeconds!: number;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'max_connections of the server (the newest sample’s): load can never exceed it',
    example: 100,
  })
  maxConnections!: number | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description:
      'The target’s cpuCount, where its configuration gives it: load above it waits for CPU (the line to stay under)',
    example: 8,
  })
  cpuCount!: number | null;

  @ApiProperty({ type: LoadTotalsDto, description: 'Over the whole window' })
  totals!: LoadTotalsDto;

  @ApiProperty({ type: [LoadPointDto], description: 'One point per bucket of `step`, oldest first' })
  points!: LoadPointDto[];
}

export class WaitShareDto {
  @ApiProperty({ description: 'type:event, or CPU', example: 'Lock:transactionid' })
  waitEvent!: string;

  @ApiProperty({ description: 'Its share of the contributor’s load, 0..1', example: 0.8 })
  share!: number;
}

export class LoadContributorDto {
  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'The contributor (as LoadGroupDto.key)',
    example: '-3173676962039963833',
  })
  key!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'For by=queryId: the statement’s text (as QUERY_TEXT allows)',
    example: 'update orders set status = $1 where id = $2',
  })
  query!: string | null;

  @ApiProperty(aas('Its load over the window', 0.9))
  activeSessions!: number;

  @ApiProperty({ description: 'Its share of all the load, 0..1', example: 0.3 })
  share!: number;

  @ApiProperty({ type: [WaitShareDto], description: 'What it waited on, largest share first (at most 5)' })
  waits!: WaitShareDto[];

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    example: 1200,
    description: 'For by=queryId: its calls over the same window (history of pg_stat_statements); null otherwise',
  })
  calls!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    example: 35000.5,
    description: 'For by=queryId: its execution time over the same window, ms; null otherwise',
  })
  totalExecTimeMs!: number | null;
}

export class LoadTopResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected; meta.window its coverage' })
  meta!: MetaDto;

  @ApiProperty({ enum: LOAD_DIMENSIONS, enumName: 'LoadDimension', description: 'The dimension', example: 'queryId' })
  by!: LoadDimension;

  @ApiProperty(aas('All the load over the window', 3.2))
  activeSessions!: number;

  @ApiProperty({ type: [LoadContributorDto], description: 'The top contributors, largest first' })
  contributors!: LoadContributorDto[];
}

export class LockChainDto {
  @ApiProperty({ type: 'integer', description: 'The root blocker’s pid', example: 4242 })
  rootPid!: number;

  @ApiProperty({
    description: 'When the chain was first seen (to sample precision)',
    format: 'date-time',
    example: '2026-11-28T02:49:12.000Z',
  })
  began!: string;

  @ApiProperty({ description: 'When it was last seen', format: 'date-time', example: '2026-11-28T02:51:40.000Z' })
  ended!: string;

  @ApiProperty({ type: 'string', nullable: true, description: 'The root blocker’s role', example: 'app_user' })
  user!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'Its application_name', example: 'billing-worker' })
  application!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'Its state when last seen (idle in transaction …)',
    example: 'idle in transaction',
  })
  state!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'Its query_id (14+)', example: '-3173676962039963833' })
  queryId!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'Its last statement, redacted as QUERY_TEXT says (null with none)',
    example: 'update orders set status = ? where id = ?',
  })
  query!: string | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'Its transaction’s start',
    example: '2026-11-28T02:48:55.000Z',
  })
  transactionStart!: string | null;

  @ApiProperty({ type: 'integer', description: 'The most sessions seen waiting behind it at once', example: 7 })
  maxWaiting!: number;

  @ApiProperty({ type: 'number', nullable: true, description: 'The longest wait seen behind it, ms', example: 148000 })
  longestWaitMs!: number | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'What the waiters wanted that it held',
    example: 'relation public.orders (RowExclusiveLock)',
  })
  holds!: string | null;
}

export class LocksResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected; meta.window its coverage' })
  meta!: MetaDto;

  @ApiProperty({ type: [LockChainDto], description: 'The chains seen in the window, newest first' })
  chains!: LockChainDto[];
}
