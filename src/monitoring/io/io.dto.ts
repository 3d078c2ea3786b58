import { ApiProperty } from '@nestjs/swagger';
import { MetaDto } from '../shared/meta.dto';
import { intProp, numProp, textProp, timeProp } from '../shared/props';

export class IoStatDto {
  @ApiProperty({ description: 'backend_type', example: 'client backend' })
  backendType!: string;

  @ApiProperty({ description: 'object: relation, temp relation, wal (18)', example: 'relation' })
  object!: string;

  @ApiProperty({ description: 'context: normal, vacuum, bulkread, bulkwrite, init (18)', example: 'normal' })
  context!: string;

  @ApiProperty(intProp('reads (null where the combination cannot read)', 1200, true))
  reads!: number | null;

  @ApiProperty(numProp('read_time, ms (0 with track_io_timing off)', 35.2, true))
  readTimeMs!: number | null;

  @ApiProperty(intProp('Bytes read: read_bytes on 18, reads × op_bytes on 16/17', 9830400, true))
  readBytes!: number | null;

  @ApiProperty(intProp('writes', 10, true))
  writes!: number | null;

  @ApiProperty(numProp('write_time, ms', 0.4, true))
  writeTimeMs!: number | null;

  @ApiProperty(intProp('Bytes written', 81920, true))
  writeBytes!: number | null;

  @ApiProperty(intProp('writebacks', 0, true))
  writebacks!: number | null;

  @ApiProperty(numProp('writeback_time, ms', 0, true))
  writebackTimeMs!: number | null;

  @ApiProperty(intProp('extends', 40, true))
  extends!: number | null;

  @ApiProperty(numProp('extend_time, ms', 0.2, true))
  extendTimeMs!: number | null;

  @ApiProperty(intProp('Bytes extended', 327680, true))
  extendBytes!: number | null;

  @ApiProperty(intProp('hits (shared buffers)', 98000, true))
  hits!: number | null;

  @ApiProperty(intProp('evictions: buffers taken from another use', 20, true))
  evictions!: number | null;

  @ApiProperty(intProp('reuses (ring buffers of bulk operations)', 0, true))
  reuses!: number | null;

  @ApiProperty(intProp('fsyncs', 0, true))
  fsyncs!: number | null;

  @ApiProperty(numProp('fsync_time, ms', 0, true))
  fsyncTimeMs!: number | null;

  @ApiProperty(timeProp('stats_reset'))
  statsReset!: string | null;
}

export class BackendWritesDto {
  @ApiProperty({ description: 'backend_type', example: 'checkpointer' })
  backendType!: string;

  @ApiProperty(intProp('Its writes of relation blocks', 5000))
  writes!: number;

  @ApiProperty(numProp('Its share of all of them, 0..1', 0.9, true))
  share!: number | null;
}

export class IoSummaryDto {
  @ApiProperty(
    numProp(
      'hits / (hits + reads) of relation blocks: the reads shared buffers served; null without reads',
      0.99,
      true,
    ),
  )
  sharedHitRatio!: number | null;

  @ApiProperty(intProp('Buffers evicted, all contexts', 20))
  evictions!: number;

  @ApiProperty(intProp('Relation blocks read', 1200))
  reads!: number;

  @ApiProperty({
    type: [BackendWritesDto],
    description:
      'Who writes relation blocks, most first: client backends writing is the symptom of a starved background writer',
  })
  writesByBackendType!: BackendWritesDto[];

  @ApiProperty(numProp('Client backends’ share of relation writes, 0..1; null without writes', 0.05, true))
  clientWriteShare!: number | null;
}

export class CheckpointsDto {
  @ApiProperty(intProp('Timed checkpoints (checkpoint_timeout)', 120))
  timed!: number;

  @ApiProperty(intProp('Requested checkpoints (max_wal_size, CHECKPOINT, …): many mean max_wal_size is too small', 3))
  requested!: number;

  @ApiProperty(intProp('Checkpoints completed (num_done, 18+)', null, true))
  done!: number | null;

  @ApiProperty(numProp('Time writing, ms', 120000))
  writeTimeMs!: number;

  @ApiProperty(numProp('Time syncing, ms', 300))
  syncTimeMs!: number;

  @ApiProperty(intProp('Buffers written by checkpoints', 50000))
  buffersWritten!: number;

  @ApiProperty(intProp('Buffers written by the background writer', 2000))
  buffersClean!: number;

  @ApiProperty(intProp('Times the background writer stopped at bgwriter_lru_maxpages', 0))
  maxwrittenClean!: number;

  @ApiProperty(intProp('Buffers allocated', 100000))
  buffersAlloc!: number;

  @ApiProperty(intProp('Buffers written by backends (pg_stat_bgwriter before 17; pg_stat_io since)', null, true))
  buffersBackend!: number | null;

  @ApiProperty(intProp('Backends’ own fsyncs (before 17)', null, true))
  buffersBackendFsync!: number | null;

  @ApiProperty(timeProp('stats_reset of pg_stat_checkpointer (pg_stat_bgwriter before 17)'))
  checkpointerStatsReset!: string | null;

  @ApiProperty(timeProp('stats_reset of pg_stat_bgwriter'))
  bgwriterStatsReset!: string | null;
}

export class WalDto {
  @ApiProperty(intProp('WAL records', 100000))
  records!: number;

  @ApiProperty(intProp('Full-page images', 2000))
  fullPageImages!: number;

  @ApiProperty(intProp('WAL bytes', 50000000))
  bytes!: number;

  @ApiProperty(intProp('Times WAL buffers were full (wal_buffers too small)', 0))
  buffersFull!: number;

  @ApiProperty(intProp('WAL writes (pg_stat_io object wal on 18)', 3000, true))
  writes!: number | null;

  @ApiProperty(intProp('WAL syncs', 3000, true))
  syncs!: number | null;

  @ApiProperty(numProp('Write time, ms (track_wal_io_timing; track_io_timing on 18)', 0, true))
  writeTimeMs!: number | null;

  @ApiProperty(numProp('Sync time, ms', 0, true))
  syncTimeMs!: number | null;

  @ApiProperty(timeProp('stats_reset'))
  statsReset!: string | null;
}

export class DatabaseIoDto {
  @ApiProperty({ description: 'datname', example: 'app' })
  name!: string;

  @ApiProperty(intProp('Temporary files created', 3))
  tempFiles!: number;

  @ApiProperty(intProp('Bytes written to them', 104857600))
  tempBytes!: number;

  @ApiProperty(intProp('Deadlocks', 0))
  deadlocks!: number;

  @ApiProperty(intProp('Queries cancelled by recovery conflicts (standbys)', 0))
  conflicts!: number;

  @ApiProperty(intProp('Checksum failures (null with data checksums off)', null, true))
  checksumFailures!: number | null;

  @ApiProperty(timeProp('The last one', null))
  checksumLastFailure!: string | null;

  @ApiProperty(intProp('Conflicts: dropped tablespaces', 0, true))
  conflictsTablespace!: number | null;

  @ApiProperty(intProp('… lock timeouts', 0, true))
  conflictsLock!: number | null;

  @ApiProperty(intProp('… old snapshots', 0, true))
  conflictsSnapshot!: number | null;

  @ApiProperty(intProp('… pinned buffers', 0, true))
  conflictsBufferpin!: number | null;

  @ApiProperty(intProp('… deadlocks', 0, true))
  conflictsDeadlock!: number | null;

  @ApiProperty(intProp('… logical slots (16+)', 0, true))
  conflictsLogicalSlot!: number | null;
}

export class IoResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected' })
  meta!: MetaDto;

  @ApiProperty({
    type: IoSummaryDto,
    nullable: true,
    description: 'What to read first, from pg_stat_io (null before 16)',
  })
  summary!: IoSummaryDto | null;

  @ApiProperty({
    type: [IoStatDto],
    nullable: true,
    description: 'pg_stat_io, per backend type, object and context; null before 16 (see ioUnavailable)',
  })
  io!: IoStatDto[] | null;

  @ApiProperty(textProp('Why io is null', null))
  ioUnavailable!: string | null;

  @ApiProperty({ type: CheckpointsDto, description: 'Checkpoints and the background writer' })
  checkpoints!: CheckpointsDto;

  @ApiProperty({ type: WalDto, nullable: true, description: 'pg_stat_wal (14+; null on 13)' })
  wal!: WalDto | null;

  @ApiProperty({ type: [DatabaseIoDto], description: 'Per database' })
  databases!: DatabaseIoDto[];
}
