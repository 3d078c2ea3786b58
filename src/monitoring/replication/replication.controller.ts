import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { TargetQueryDto } from '../shared/target-query.dto';
import { IoResponseDto } from '../io/io.dto';
import { IoService } from '../io/io.service';
import { ReplicationResponseDto } from './replication.dto';
import { ReplicationService } from './replication.service';

@ApiTags('replication')
@ApiBearerAuth()
@Controller(API_BASE)
export class ReplicationController {
  constructor(
    private readonly replication: ReplicationService,
    private readonly io: IoService,
    private readonly targets: TargetRegistry,
  ) {}

  @Get('replication')
  @ApiOperation({
    operationId: 'getReplication',
    summary: 'Replication: role, standbys and their lag, a standby’s replay, slots and the WAL they retain, archiver',
    description:
      'On a primary, each standby’s sent/write/flush/replay positions with the bytes between each and the current ' +
      'WAL position, and writeLagMs/flushLagMs/replayLagMs exactly as PostgreSQL measures them: null when it does ' +
      'not know (after an idle spell), never a clock difference, so an idle primary shows no growing lag. On a ' +
      'standby, what it received and replayed, the WAL receiver, and the replay delay: the time since the last ' +
      'replayed transaction only while WAL waits to be replayed (replayDelayBasis says which applies). Slots with ' +
      'the WAL each retains (pg_wal_lsn_diff from restart_lsn), inactive ones retaining WAL first; the archiver and ' +
      'whether it is failing now.',
  })
  @ApiMonitoringResponses(ReplicationResponseDto)
  async get(@Query() query: TargetQueryDto): Promise<ReplicationResponseDto> {
    return this.replication.getReplication(await this.targets.resolve(query.target, undefined));
  }

  @Get('io')
  @ApiOperation({
    operationId: 'getIo',
    summary: 'Where the server’s I/O goes: pg_stat_io, checkpoints, the background writer, WAL, per database',
    description:
      'pg_stat_io (16+; null with the reason before) per backend type, object and context, and a summary: the share ' +
      'of relation reads shared buffers served, evictions, and who writes (client backends writing is the symptom ' +
      'of a background writer that cannot keep up). Checkpoints timed against requested (pg_stat_checkpointer on ' +
      '17+, pg_stat_bgwriter before, one schema), pg_stat_wal (14+), and per database temp files, deadlocks, ' +
      'recovery conflicts by kind and checksum failures. Cumulative since each view’s stats_reset.',
  })
  @ApiMonitoringResponses(IoResponseDto)
  async getIo(@Query() query: TargetQueryDto): Promise<IoResponseDto> {
    return this.io.getIo(await this.targets.resolve(query.target, undefined));
  }
}
