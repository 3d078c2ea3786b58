import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE, ProblemDto } from './problem';

const DESCRIPTIONS: Record<number, string> = {
  400: 'A query parameter is invalid (code INVALID_PARAMETER; invalidParams names it)',
  401: 'Missing or wrong bearer token (code UNAUTHORIZED)',
  403: 'The pgscope role lacks a privilege this request needs (code INSUFFICIENT_PRIVILEGE)',
  429: 'Too many requests from this client (code RATE_LIMITED); Retry-After says when to retry',
  500: 'An unexpected failure (code INTERNAL_ERROR); the cause is in the service log, never in the response',
  503: 'PostgreSQL is unreachable (code DATABASE_UNAVAILABLE) or a needed extension is missing',
  504: 'The monitoring query hit QUERY_TIMEOUT_MS and was cancelled on the server (code QUERY_TIMEOUT)',
};

/** Documents the problem+json error responses of an operation. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Error',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(ProblemDto) } } },
      }),
    ),
  );
}

/** The errors every /api operation can answer with. */
export const ApiEndpointProblems = (): MethodDecorator & ClassDecorator =>
  ApiProblems(400, 401, 403, 429, 500, 503, 504);

/** A query DTO for operations that take no parameters: any parameter is then a 400. */
export class NoQueryDto {}
