import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiHeader, ApiOkResponse, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE, ProblemDto } from './problem';

const DESCRIPTIONS: Record<number, string> = {
  400: 'A query parameter is invalid (code INVALID_PARAMETER; invalidParams names it)',
  401: 'Missing or wrong bearer token (code UNAUTHORIZED)',
  403: 'The pgscope role lacks a privilege this request needs (code INSUFFICIENT_PRIVILEGE)',
  404: 'No such target (code TARGET_NOT_FOUND) or database of it (code DATABASE_NOT_FOUND); the detail names it',
  409: 'History is off (code HISTORY_DISABLED): a window, from or to needs the history store; the hint says how',
  429: 'Too many requests from this client (code RATE_LIMITED); Retry-After says when to retry',
  500: 'An unexpected failure (code INTERNAL_ERROR); the cause is in the service log, never in the response',
  503: 'PostgreSQL is unreachable (code DATABASE_UNAVAILABLE) or a needed extension is missing',
  504: 'The monitoring query hit QUERY_TIMEOUT_MS and was cancelled on the server (code QUERY_TIMEOUT)',
};

const WINDOWED_503 =
  'PostgreSQL is unreachable (code DATABASE_UNAVAILABLE), a needed extension is missing, or, for a windowed ' +
  'request, the history store does not answer (code HISTORY_UNAVAILABLE, with the cause)';

/** Documents the problem+json error responses of an operation. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return problems(statuses, DESCRIPTIONS);
}

function problems(statuses: number[], descriptions: Record<number, string>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: descriptions[status] ?? 'Error',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(ProblemDto) } } },
      }),
    ),
  );
}

/** The errors every /api operation can answer with (and a windowed one: 409, and 503 of the store). */
const ApiEndpointProblems = (windowed: boolean): MethodDecorator & ClassDecorator =>
  windowed
    ? problems([400, 401, 403, 404, 409, 429, 500, 503, 504], { ...DESCRIPTIONS, 503: WINDOWED_503 })
    : ApiProblems(400, 401, 403, 404, 429, 500, 503, 504);

const CACHE_HEADERS = {
  ETag: {
    description: 'Weak validator of this body; send it back in If-None-Match to get a 304 while it is unchanged',
    schema: { type: 'string', example: 'W/"pX0sbk4mWbOdFvD3mfPyqZ3n0Ig"' },
  },
  'Cache-Control': {
    description:
      'private, max-age=<seconds left of CACHE_TTL_MS> (private, no-cache when the shared cache is off): the body may ' +
      'be reused by this client only',
    schema: { type: 'string', example: 'private, max-age=1' },
  },
};

/**
 * The 200 of a monitoring operation, with what the shared collection cache adds: ETag and Cache-Control on the
 * answer, If-None-Match on the request, and the 304 it earns. Every error it can answer with, too.
 */
export function ApiMonitoringResponses(
  type: new () => unknown,
  options: { windowed?: boolean } = {},
): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiOkResponse({ type, headers: CACHE_HEADERS }),
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description: 'An ETag of an earlier answer: a 304 without a body while that answer is still the current one',
      schema: { type: 'string' },
      example: 'W/"pX0sbk4mWbOdFvD3mfPyqZ3n0Ig"',
    }),
    ApiResponse({
      status: 304,
      description: 'Not modified: the answer whose ETag was sent in If-None-Match is still current (no body)',
      headers: CACHE_HEADERS,
    }),
    ApiEndpointProblems(options.windowed ?? false),
  );
}

/** A query DTO for operations that take no parameters: any parameter is then a 400. */
export class NoQueryDto {}
