import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AppError, ERROR_CODES, ErrorCode } from '../common/errors';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export class InvalidParamDto {
  @ApiProperty({ description: 'Name of the query parameter', example: 'limit' })
  name!: string;

  @ApiProperty({ description: 'What is wrong with it', example: 'must not be greater than 1000' })
  reason!: string;
}

/** RFC 9457 problem details, as every error of pgscope is sent (application/problem+json). */
export class ProblemDto {
  @ApiProperty({
    description: 'URI reference that identifies the problem type',
    example: 'urn:pgscope:problem:invalid-parameter',
  })
  type!: string;

  @ApiProperty({ description: 'Short summary of the problem type', example: 'Invalid parameter' })
  title!: string;

  @ApiProperty({ description: 'HTTP status code', example: 400, type: 'integer' })
  status!: number;

  @ApiProperty({ description: 'What went wrong, for a human', example: 'limit: must not be greater than 1000' })
  detail!: string;

  @ApiProperty({
    description: 'Stable machine-readable code',
    enum: ERROR_CODES,
    enumName: 'ErrorCode',
    example: 'INVALID_PARAMETER',
  })
  code!: ErrorCode;

  @ApiPropertyOptional({ description: 'How to fix it, where pgscope knows', example: 'GRANT pg_monitor TO pgscope;' })
  hint?: string;

  @ApiPropertyOptional({
    description: 'The parameters that were rejected (INVALID_PARAMETER only)',
    type: [InvalidParamDto],
  })
  invalidParams?: InvalidParamDto[];
}

function problemType(code: ErrorCode): string {
  return `urn:pgscope:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

/** The RFC 9457 body of an error: only its client-safe parts. */
export function problemBody(error: AppError): Record<string, unknown> {
  const body: Record<string, unknown> = {
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
  };
  if (error.hint) body.hint = error.hint;
  if (error.invalidParams) body.invalidParams = error.invalidParams;
  return body;
}

/** Answers from a Fastify hook (outside Nest's exception filter) with a problem+json body. */
export function sendProblem(reply: FastifyReply, error: AppError, headers: Record<string, string> = {}): FastifyReply {
  return reply
    .code(error.status)
    .headers({ ...headers, 'content-type': PROBLEM_CONTENT_TYPE })
    .send(problemBody(error));
}
