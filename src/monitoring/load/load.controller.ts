import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import {
  LoadQueryDto,
  LoadResponseDto,
  LoadTopQueryDto,
  LoadTopResponseDto,
  LocksQueryDto,
  LocksResponseDto,
} from './load.dto';
import { LoadHistory } from './load.history';

const SAMPLING =
  'pgscope samples pg_stat_activity of every target every LOAD_SAMPLE_MS (default 1 s) and keeps, per bucket of ' +
  'LOAD_BUCKET_SECONDS, how many sessions were active under each wait, statement, database, user and ' +
  'application: the average active sessions ("DB load"). An active session that waits on nothing is CPU (or a ' +
  'wait PostgreSQL does not instrument). Idle sessions are not load; sessions idle in a transaction and ' +
  'autovacuum workers are counted apart; parallel workers count under their leader’s statement. Read from the ' +
  'history store; 409 HISTORY_DISABLED with HISTORY=off.';

@ApiTags('load')
@ApiBearerAuth()
@Controller(API_BASE)
export class LoadController {
  constructor(
    private readonly load: LoadHistory,
    private readonly targets: TargetRegistry,
  ) {}

  @Get('load')
  @ApiOperation({
    operationId: 'getLoad',
    summary: 'Database load over time: average active sessions by wait, statement, database, user or application',
    description: `${SAMPLING} Each point is a bucket of \`step\`; a bucket without samples has null averages and lies in a gap (meta.window.gaps). \`maxConnections\` and the target’s \`cpuCount\` are the lines the load must stay under.`,
  })
  @ApiMonitoringResponses(LoadResponseDto, { windowed: true })
  async get(@Query() query: LoadQueryDto): Promise<LoadResponseDto> {
    return this.load.load(this.targets.get(query.target), query);
  }

  @Get('load/top')
  @ApiOperation({
    operationId: 'getLoadTop',
    summary: 'What the load was: the top statements (or databases, users, applications, waits) over a window',
    description: `${SAMPLING} For statements, each contributor’s wait profile and its calls and time over the same window from the history of pg_stat_statements.`,
  })
  @ApiMonitoringResponses(LoadTopResponseDto, { windowed: true })
  async top(@Query() query: LoadTopQueryDto): Promise<LoadTopResponseDto> {
    return this.load.top(this.targets.get(query.target), query);
  }

  @Get('activity/locks')
  @ApiOperation({
    operationId: 'listLockChains',
    summary: 'The lock chains of a window: who blocked whom, from when to when, and how many waited',
    description:
      'Every sample that sees a session waiting on a lock records the chains as /activity computes them (the root ' +
      'blocker: a blocker that waits on nothing itself), once per chain per bucket. A chain is its root session ' +
      '(pid and backend start) and transaction: began and ended to sample precision, the most sessions that waited ' +
      'at once, the longest wait, and what they wanted that the root held. Newest first.',
  })
  @ApiMonitoringResponses(LocksResponseDto, { windowed: true })
  async locks(@Query() query: LocksQueryDto): Promise<LocksResponseDto> {
    return this.load.locks(this.targets.get(query.target), query);
  }
}
