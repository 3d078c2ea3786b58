import { ApiProperty } from '@nestjs/swagger';
import { MetaDto } from '../shared/meta.dto';
import { boolProp, intProp, numProp, textProp, timeProp } from '../shared/props';

export class StandbyDto {
  @ApiProperty({ type: 'integer', description: 'The walsender’s pid', example: 4242 })
  pid!: number;

  @ApiProperty(textProp('application_name of the standby (its primary_conninfo)', 'replica-1'))
  applicationName!: string | null;

  @ApiProperty(textProp('Its address', '10.0.0.12'))
  clientAddr!: string | null;

  @ApiProperty(textProp('startup, catchup, streaming, backup, stopping', 'streaming'))
  state!: string | null;

  @ApiProperty(textProp('async, potential, sync, quorum', 'async'))
  syncState!: string | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'sync_priority', example: 0 })
  syncPriority!: number | null;

  @ApiProperty(textProp('WAL sent to it', '0/3000148'))
  sentLsn!: string | null;

  @ApiProperty(textProp('WAL it has written', '0/3000148'))
  writeLsn!: string | null;

  @ApiProperty(textProp('WAL it has flushed', '0/3000148'))
  flushLsn!: string | null;

  @ApiProperty(textProp('WAL it has replayed', '0/3000060'))
  replayLsn!: string | null;

  @ApiProperty(intProp('Bytes between the current WAL position and sentLsn', 0, true))
  sentLagBytes!: number | null;

  @ApiProperty(intProp('… and writeLsn', 0, true))
  writeLagBytes!: number | null;

  @ApiProperty(intProp('… and flushLsn', 0, true))
  flushLagBytes!: number | null;

  @ApiProperty(intProp('… and replayLsn: 0 when it has replayed all there is', 232, true))
  replayLagBytes!: number | null;

  @ApiProperty(
    numProp('write_lag as PostgreSQL measures it, ms; null when it does not know (idle: no recent WAL)', 0.4, true),
  )
  writeLagMs!: number | null;

  @ApiProperty(numProp('flush_lag, ms; null likewise', 0.9, true))
  flushLagMs!: number | null;

  @ApiProperty(numProp('replay_lag, ms; null likewise', 1.3, true))
  replayLagMs!: number | null;

  @ApiProperty(timeProp('Its last reply (reply_time)'))
  replyTime!: string | null;

  @ApiProperty(numProp('Since its last reply, ms', 850, true))
  replyAgeMs!: number | null;

  @ApiProperty(intProp('age(backend_xmin): the xmin it holds on this primary through hot_standby_feedback', null, true))
  backendXminAge!: number | null;
}

export const REPLAY_DELAY_BASIS = ['behind', 'caught_up', 'unknown'] as const;

export class ReceiverDto {
  @ApiProperty(textProp('pg_last_wal_receive_lsn()', '0/3000148'))
  receivedLsn!: string | null;

  @ApiProperty(textProp('pg_last_wal_replay_lsn()', '0/3000148'))
  replayedLsn!: string | null;

  @ApiProperty(intProp('Bytes received and not yet replayed', 0, true))
  lagBytes!: number | null;

  @ApiProperty(boolProp('Replay paused (pg_wal_replay_pause())', false))
  replayPaused!: boolean;

  @ApiProperty(timeProp('pg_last_xact_replay_timestamp(): the commit time of the last transaction replayed'))
  lastReplayAt!: string | null;

  @ApiProperty(
    numProp('Since that transaction, ms: grows while the primary is idle, so not a delay by itself', 42000, true),
  )
  timeSinceLastReplayMs!: number | null;

  @ApiProperty({
    enum: REPLAY_DELAY_BASIS,
    enumName: 'ReplayDelayBasis',
    description:
      'behind: WAL is received and not replayed, replayDelayMs is the time since the last replayed transaction; ' +
      'caught_up: all received WAL is replayed, replayDelayMs is 0 however long the primary has been idle; unknown: ' +
      'nothing replayed yet',
    example: 'caught_up',
  })
  replayDelayBasis!: (typeof REPLAY_DELAY_BASIS)[number];

  @ApiProperty(numProp('The replay delay as replayDelayBasis says', 0, true))
  replayDelayMs!: number | null;

  @ApiProperty(textProp('The WAL receiver’s status (streaming, …); null without a receiver', 'streaming'))
  status!: string | null;

  @ApiProperty(textProp('The primary it streams from', '10.0.0.11'))
  senderHost!: string | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'Its port', example: 5432 })
  senderPort!: number | null;

  @ApiProperty(textProp('primary_slot_name', 'replica_1'))
  slotName!: string | null;

  @ApiProperty(timeProp('Last message sent by the primary'))
  lastMsgSendTime!: string | null;

  @ApiProperty(timeProp('… and received here'))
  lastMsgReceiptTime!: string | null;

  @ApiProperty(textProp('Last WAL position the primary reported', '0/3000148'))
  latestEndLsn!: string | null;

  @ApiProperty(timeProp('… and when'))
  latestEndTime!: string | null;
}

export class SlotDto {
  @ApiProperty({ description: 'slot_name', example: 'replica_1' })
  name!: string;

  @ApiProperty({ description: 'physical or logical', example: 'physical' })
  type!: string;

  @ApiProperty(textProp('Its output plugin (logical)', null))
  plugin!: string | null;

  @ApiProperty(textProp('Its database (logical)', null))
  database!: string | null;

  @ApiProperty(boolProp('In use now', false))
  active!: boolean;

  @ApiProperty({ type: 'integer', nullable: true, description: 'The pid using it', example: null })
  activePid!: number | null;

  @ApiProperty(textProp('reserved, extended, unreserved, lost', 'extended'))
  walStatus!: string | null;

  @ApiProperty(
    intProp(
      'safe_wal_size: bytes that can still be written before it is lost (null: max_slot_wal_keep_size is -1)',
      null,
      true,
    ),
  )
  safeWalSizeBytes!: number | null;

  @ApiProperty(textProp('restart_lsn', '0/1000028'))
  restartLsn!: string | null;

  @ApiProperty(intProp('WAL it retains: from restart_lsn to the current position (pg_wal_lsn_diff)', 1073741824, true))
  retainedBytes!: number | null;

  @ApiProperty(intProp('age(xmin) it holds', null, true))
  xminAge!: number | null;

  @ApiProperty(intProp('age(catalog_xmin) it holds (logical)', null, true))
  catalogXminAge!: number | null;

  @ApiProperty(timeProp('inactive_since (17+)'))
  inactiveSince!: string | null;

  @ApiProperty(boolProp('conflicting (16+, logical)', null, true))
  conflicting!: boolean | null;

  @ApiProperty(textProp('invalidation_reason (17+)', null))
  invalidationReason!: string | null;
}

export class ArchiverDto {
  @ApiProperty(textProp('archive_mode', 'on', false))
  archiveMode!: string;

  @ApiProperty(intProp('WAL files archived', 1200))
  archivedCount!: number;

  @ApiProperty(textProp('Last archived', '000000010000000000000042'))
  lastArchivedWal!: string | null;

  @ApiProperty(timeProp('… when'))
  lastArchivedTime!: string | null;

  @ApiProperty(intProp('Failed attempts', 0))
  failedCount!: number;

  @ApiProperty(textProp('Last failed', null))
  lastFailedWal!: string | null;

  @ApiProperty(timeProp('… when', null))
  lastFailedTime!: string | null;

  @ApiProperty(boolProp('Failing now: a failure newer than the last success', false))
  failing!: boolean;

  @ApiProperty(timeProp('stats_reset'))
  statsReset!: string | null;
}

export class ReplicationResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected' })
  meta!: MetaDto;

  @ApiProperty({
    enum: ['primary', 'standby'],
    enumName: 'ServerRole',
    description: 'pg_is_in_recovery()',
    example: 'primary',
  })
  role!: 'primary' | 'standby';

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Timeline (null without the privilege to read pg_control)',
    example: 1,
  })
  timeline!: number | null;

  @ApiProperty(textProp('The WAL position: the primary’s current, a standby’s replayed', '0/3000148'))
  currentLsn!: string | null;

  @ApiProperty({
    type: [StandbyDto],
    description: 'On a primary, its standbys (pg_stat_replication); empty on a standby',
  })
  standbys!: StandbyDto[];

  @ApiProperty({
    type: ReceiverDto,
    nullable: true,
    description: 'On a standby: what it received and replayed; null on a primary',
  })
  receiver!: ReceiverDto | null;

  @ApiProperty({ type: [SlotDto], description: 'Replication slots, inactive ones retaining WAL first' })
  slots!: SlotDto[];

  @ApiProperty({ type: ArchiverDto, description: 'pg_stat_archiver' })
  archiver!: ArchiverDto;
}
