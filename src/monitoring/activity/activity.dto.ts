import { TargetQueryDto } from '../shared/target-query.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsIn, IsOptional } from 'class-validator';
import { MetaDto } from '../shared/meta.dto';
import { QueryTextMode, QueryTextProperty } from '../shared/query-text';
import {
  BooleanParam,
  EnumParam,
  IntParam,
  NameParam,
  OrderParam,
  SortOrder,
  TextParam,
  toList,
} from '../../http/query';
import { ACTIVITY_ORDER_BY, ActivityOrderBy } from './activity.sql';

export const SESSION_STATES = [
  'active',
  'idle',
  'idle in transaction',
  'idle in transaction (aborted)',
  'fastpath function call',
  'disabled',
  // PostgreSQL 18: a backend still authenticating and setting up its connection.
  'starting',
] as const;

/** The defaults of the parameters: documented by the decorators below, applied by the service. */
export const ACTIVITY_DEFAULTS = {
  backendType: 'client backend',
  excludeSelf: true,
  orderBy: 'queryDuration' as ActivityOrderBy,
  order: 'desc' as SortOrder,
  limit: 100,
};

export class ActivityQueryDto extends TargetQueryDto {
  @ApiPropertyOptional({
    description: 'Only sessions in these states (pg_stat_activity.state); comma-separated or repeated',
    // Inline (no enumName): @nestjs/swagger drops maxItems from an array parameter of a named enum.
    enum: SESSION_STATES,
    isArray: true,
    maxItems: SESSION_STATES.length,
    example: ['active', 'idle in transaction'],
  })
  @IsOptional()
  @Transform(toList)
  @ArrayMaxSize(SESSION_STATES.length)
  @IsIn(SESSION_STATES, { each: true, message: `each value must be one of: ${SESSION_STATES.join(', ')}` })
  state?: string[];

  @NameParam('Only sessions connected to this database (datname)', 'app')
  database?: string;

  @NameParam('Only sessions of this role (usename)', 'app_user')
  user?: string;

  @TextParam({
    description: 'Only sessions with this application_name (exact match)',
    example: 'billing',
    minLength: 0,
    maxLength: 128,
  })
  application?: string;

  @IntParam(
    'Only active sessions whose current query has run at least this many milliseconds',
    0,
    604_800_000,
    undefined,
    5000,
  )
  minDurationMs?: number;

  @BooleanParam('true: only sessions waiting on a heavyweight lock (wait_event_type = Lock); false: the others')
  waiting?: boolean;

  @BooleanParam('true: only sessions blocked by another (pg_blocking_pids not empty); false: the others')
  blocked?: boolean;

  @BooleanParam('true: only sessions that block at least one other; false: the others')
  blocking?: boolean;

  @TextParam({
    description:
      "Which backends: 'client backend' (default), 'all', or one pg_stat_activity.backend_type " +
      "such as 'autovacuum worker' or 'parallel worker'",
    example: 'all',
    default: ACTIVITY_DEFAULTS.backendType,
    maxLength: 64,
    pattern: '^[A-Za-z0-9_ .()-]{1,64}$',
    message: "must be 'all', 'client backend' or a backend_type",
  })
  backendType?: string;

  @BooleanParam("Leave out pgscope's own connections", ACTIVITY_DEFAULTS.excludeSelf)
  excludeSelf?: boolean;

  @EnumParam(ACTIVITY_ORDER_BY, 'ActivityOrderBy', 'Sort key (durations sort nulls last)', ACTIVITY_DEFAULTS.orderBy)
  orderBy?: ActivityOrderBy;

  @OrderParam(ACTIVITY_DEFAULTS.order)
  order?: SortOrder;

  @IntParam('Maximum number of sessions returned', 1, 1000, ACTIVITY_DEFAULTS.limit)
  limit?: number;
}

export class StateCountDto {
  @ApiProperty({
    description: 'pg_stat_activity.state; null for sessions whose state the role may not see',
    type: 'string',
    nullable: true,
    example: 'active',
  })
  state!: string | null;

  @ApiProperty({ description: 'Client backends in this state', type: 'integer', example: 3 })
  count!: number;
}

export class WaitEventTypeCountDto {
  @ApiProperty({
    description: 'pg_stat_activity.wait_event_type; null = not waiting (on CPU or idle)',
    type: 'string',
    nullable: true,
    example: 'Lock',
  })
  waitEventType!: string | null;

  @ApiProperty({ description: 'Sessions waiting on this wait_event_type', type: 'integer', example: 2 })
  count!: number;
}

export class ActivitySummaryDto {
  @ApiProperty({
    description: "Client backends connected (pgscope's own included: they use slots too)",
    type: 'integer',
    example: 42,
  })
  totalConnections!: number;

  @ApiProperty({ description: 'max_connections', type: 'integer', example: 100 })
  maxConnections!: number;

  @ApiProperty({
    description: 'superuser_reserved_connections, plus reserved_connections on PostgreSQL 16+',
    type: 'integer',
    example: 3,
  })
  reservedConnections!: number;

  @ApiProperty({
    description:
      'totalConnections / (maxConnections - reservedConnections): 0..1 of the slots ordinary roles can use ' +
      '(above 1 only when superusers use reserved slots); null when no slot is usable',
    type: 'number',
    nullable: true,
    example: 0.43,
  })
  utilization!: number | null;

  @ApiProperty({ type: [StateCountDto], description: 'Client backends per state, most first' })
  byState!: StateCountDto[];

  @ApiProperty({ type: [WaitEventTypeCountDto], description: 'Client backends per wait_event_type, most first' })
  byWaitEventType!: WaitEventTypeCountDto[];

  @ApiProperty({ description: 'Sessions (of any backend type) blocked by another session', type: 'integer' })
  blockedSessions!: number;

  @ApiProperty({
    description: "Longest-running active query of a client backend, ms (pgscope's own excluded); null when none",
    type: 'number',
    nullable: true,
  })
  longestQueryMs!: number | null;

  @ApiProperty({
    description: 'Oldest open transaction of a client backend, ms; null when none',
    type: 'number',
    nullable: true,
  })
  longestTransactionMs!: number | null;

  @ApiProperty({
    description: "Longest time a client backend has sat 'idle in transaction', ms; null when none",
    type: 'number',
    nullable: true,
  })
  longestIdleInTransactionMs!: number | null;

  @ApiProperty({
    description:
      'Greatest age(backend_xmin) over all backends, in transactions: how far back they hold VACUUM; null when none',
    type: 'integer',
    nullable: true,
  })
  oldestBackendXminAge!: number | null;
}

export class SessionDto {
  @ApiProperty({ type: 'integer', description: 'Backend process id (pid)' })
  pid!: number;

  @ApiProperty({
    example: 4242,
    type: 'integer',
    nullable: true,
    description: 'For a parallel worker, the pid of its leader (leader_pid)',
  })
  leaderPid!: number | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'datname' })
  database!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'usename' })
  user!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'application_name' })
  applicationName!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'client_addr; null for Unix sockets or when hidden',
    example: '10.0.0.7',
  })
  clientAddr!: string | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'client_port; null for Unix sockets or when hidden' })
  clientPort!: number | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'backend_type', example: 'client backend' })
  backendType!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    enum: SESSION_STATES,
    enumName: 'SessionState',
    description: 'state; null for background processes and for sessions the role may not see',
  })
  state!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'wait_event_type', example: 'Lock' })
  waitEventType!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'wait_event', example: 'transactionid' })
  waitEvent!: string | null;

  @ApiProperty({ type: 'string', format: 'date-time', nullable: true, description: 'backend_start' })
  backendStart!: string | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    description: 'xact_start; null outside a transaction',
  })
  transactionStart!: string | null;

  @ApiProperty({ type: 'string', format: 'date-time', nullable: true, description: 'query_start' })
  queryStart!: string | null;

  @ApiProperty({ type: 'string', format: 'date-time', nullable: true, description: 'state_change' })
  stateChange!: string | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'How long the current query has run, ms; only while active',
  })
  queryDurationMs!: number | null;

  @ApiProperty({ type: 'number', nullable: true, description: 'How long the open transaction has run, ms' })
  transactionDurationMs!: number | null;

  @ApiProperty({ type: 'number', nullable: true, description: 'Time in the current state, ms' })
  stateDurationMs!: number | null;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'backend_xid: the transaction id, once it wrote',
    example: 7391,
  })
  backendXid!: number | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'age(backend_xmin), in transactions' })
  backendXminAge!: number | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description:
      'query_id as a decimal string (64-bit; PostgreSQL 14+, null on 13, and null when compute_query_id is off ' +
      'or while the session waits on a lock)',
    example: '-3173676962039963833',
  })
  queryId!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description:
      'pg_stat_activity.query: the current or last statement, as QUERY_TEXT allows (see queryText); null when the ' +
      'role may not see it (see meta.warnings) or QUERY_TEXT=none',
  })
  query!: string | null;

  @ApiProperty({ description: 'The text reached track_activity_query_size and was cut by PostgreSQL' })
  queryTruncated!: boolean;

  @ApiProperty({
    type: 'integer',
    isArray: true,
    description: 'pg_blocking_pids(pid): who this session waits for; empty when not blocked',
  })
  blockedBy!: number[];

  @ApiProperty({ type: 'integer', isArray: true, description: 'The pids this session blocks directly' })
  blocking!: number[];

  @ApiProperty({
    type: 'integer',
    description: 'Sessions waiting behind this one, directly or through other waiters (0 when it blocks nobody)',
  })
  blockedCount!: number;
}

export class ActivityResponseDto {
  @ApiProperty({ description: 'When and how this answer was collected, and what limited it (warnings)', type: MetaDto })
  meta!: MetaDto;

  @ApiProperty({
    description: 'Counts over every session of the server, whatever the filters',
    type: ActivitySummaryDto,
  })
  summary!: ActivitySummaryDto;

  @QueryTextProperty()
  queryText!: QueryTextMode;

  @ApiProperty({
    description: 'The sessions matching the filters, in the requested order, at most `limit`',
    type: [SessionDto],
  })
  sessions!: SessionDto[];
}
