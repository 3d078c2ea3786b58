import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiProblems, NoQueryDto } from '../http/api-docs';
import { AppError } from '../common/errors';
import { TargetRegistry } from '../targets/registry';

export class HealthDto {
  @ApiProperty({
    description: 'Always ok when the request is answered; a failure is a 503 problem',
    enum: ['ok'],
    example: 'ok',
  })
  status!: 'ok';
}

/** Liveness and readiness for orchestrators. Open without a token; they say nothing about the database. */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(private readonly targets: TargetRegistry) {}

  @Get('live')
  @ApiOperation({
    operationId: 'getLiveness',
    summary: 'The process is up',
    description: 'Always 200 while the process answers HTTP; it does not touch the database (see getReadiness).',
  })
  @ApiOkResponse({ type: HealthDto })
  @ApiProblems(400)
  live(@Query() _query: NoQueryDto): HealthDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({
    operationId: 'getReadiness',
    summary: 'The first target answers within its query timeout',
    description:
      '503 when the first configured target does not answer a trivial query in time (the others do not make ' +
      'pgscope unready: their status is in /api/db/monitoring/targets).',
  })
  @ApiOkResponse({ type: HealthDto })
  @ApiProblems(400, 503)
  async ready(@Query() _query: NoQueryDto): Promise<HealthDto> {
    try {
      await this.targets.get().primary.ping();
    } catch {
      // Deliberately vague: readiness is public and must not describe the database.
      throw new AppError('DATABASE_UNAVAILABLE', 503, 'Not ready', 'The database is not answering.');
    }
    return { status: 'ok' };
  }
}
