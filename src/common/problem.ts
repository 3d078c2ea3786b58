import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ERROR_CODES, ErrorCode } from './errors';

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

export function problemType(code: ErrorCode): string {
  return `urn:pgscope:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}
