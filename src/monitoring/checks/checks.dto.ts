import { ApiProperty } from '@nestjs/swagger';
import { Windowed } from '../../history/window';
import { EnumParam, TextParam } from '../../http/query';
import { CHECKS } from '../../checks/checks.config';
import { MetaDto } from '../shared/meta.dto';
import { numProp, textProp, timeProp } from '../shared/props';
import { TargetQueryDto } from '../shared/target-query.dto';

export const CHECK_STATUSES = ['ok', 'warning', 'critical', 'unknown', 'disabled'] as const;
export const CHECK_IDS = CHECKS.map((c) => c.id);

export class ChecksQueryDto {
  @TextParam({
    description:
      'Only the checks of this target (default: every target). (No example: the names are each instance’s own.)',
    maxLength: 64,
    pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
    message: 'must be a target name: 1 to 64 letters, digits, _ . - (starting with a letter or digit)',
  })
  target?: string;

  @EnumParam(CHECK_STATUSES, 'CheckStatus', 'Only checks in this status')
  status?: (typeof CHECK_STATUSES)[number];

  @EnumParam(CHECK_IDS, 'CheckId', 'Only this check (its id, see the README)')
  id?: string;
}

export class ChecksEventsQueryDto extends Windowed(TargetQueryDto, 'The status changes in it (default 24h)') {}

export class EvidenceDto {
  @ApiProperty({
    description: 'What it is: database, session, replication_slot, standby, table, index, sequence, setting…',
    example: 'session',
  })
  kind!: string;

  @ApiProperty({ description: 'Which one', example: '4242 (billing-worker)' })
  name!: string;

  @ApiProperty({
    nullable: true,
    oneOf: [{ type: 'number' }, { type: 'string' }],
    description: 'Its figure',
    example: 1260,
  })
  value!: number | string | null;
}

export class CheckDto {
  @ApiProperty({
    enum: CHECK_IDS,
    enumName: 'CheckId',
    description: 'The check (stable ids, documented in the README)',
    example: 'idle_in_transaction',
  })
  id!: string;

  @ApiProperty({ description: 'The target', example: 'prod-orders' })
  target!: string;

  @ApiProperty(textProp('The database, for the checks that are per database', null))
  database!: string | null;

  @ApiProperty({
    enum: CHECK_STATUSES,
    enumName: 'CheckStatus',
    description: 'The reported status (a change is reported once it held for `for` evaluations)',
    example: 'warning',
  })
  status!: (typeof CHECK_STATUSES)[number];

  @ApiProperty(numProp('The figure judged, in `unit`; null when it could not be read (see reason)', 1260, true))
  value!: number | null;

  @ApiProperty({ description: 'Its unit: %, s, h, bytes, transactions, indexes…', example: 's' })
  unit!: string;

  @ApiProperty(numProp('The warning threshold that applied (null: none)', 300, true))
  warning!: number | null;

  @ApiProperty(numProp('The critical threshold that applied (null: none)', 900, true))
  critical!: number | null;

  @ApiProperty({ type: [EvidenceDto], description: 'The objects behind the verdict' })
  evidence!: EvidenceDto[];

  @ApiProperty(timeProp('Since when it is in this status (since pgscope started watching, at most)'))
  since!: string | null;

  @ApiProperty(textProp('What fixes it (never run by pgscope); null when ok', 'SELECT pg_terminate_backend(4242);'))
  hint!: string | null;

  @ApiProperty(textProp('Why it is unknown', null))
  reason!: string | null;
}

export class ChecksResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected' })
  meta!: MetaDto;

  @ApiProperty({ type: 'integer', description: 'Seconds between evaluations (CHECKS_FILE interval)', example: 60 })
  intervalSeconds!: number;

  @ApiProperty({ type: 'integer', description: 'Evaluations a new status must hold before it is reported', example: 2 })
  for!: number;

  @ApiProperty({ type: [CheckDto], description: 'The checks, critical first, then warning, unknown, ok, disabled' })
  checks!: CheckDto[];
}

export class CheckEventDto {
  @ApiProperty({
    format: 'date-time',
    description: 'When the change was reported',
    example: '2026-11-28T02:50:00.000Z',
  })
  at!: string;

  @ApiProperty({ description: 'The target', example: 'prod-orders' })
  target!: string;

  @ApiProperty(textProp('The database', null))
  database!: string | null;

  @ApiProperty({ enum: CHECK_IDS, enumName: 'CheckId', description: 'The check', example: 'idle_in_transaction' })
  id!: string;

  @ApiProperty({ enum: CHECK_STATUSES, enumName: 'CheckStatus', description: 'The new status', example: 'critical' })
  status!: string;

  @ApiProperty({
    enum: CHECK_STATUSES,
    enumName: 'CheckStatus',
    nullable: true,
    description: 'The one before',
    example: 'warning',
  })
  previous!: string | null;

  @ApiProperty(numProp('The figure then', 1260, true))
  value!: number | null;
}

export class CheckEventsResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected; meta.window its coverage' })
  meta!: MetaDto;

  @ApiProperty({ type: [CheckEventDto], description: 'Status changes, newest first (at most 1000)' })
  events!: CheckEventDto[];
}
