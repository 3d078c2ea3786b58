/** The error codes a client can see in a problem+json body. */
export const ERROR_CODES = [
  'INVALID_PARAMETER',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'TARGET_NOT_FOUND',
  'DATABASE_NOT_FOUND',
  'STATEMENT_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'RATE_LIMITED',
  'INSUFFICIENT_PRIVILEGE',
  'PG_STAT_STATEMENTS_UNAVAILABLE',
  'DATABASE_UNAVAILABLE',
  'QUERY_TIMEOUT',
  'HISTORY_DISABLED',
  'HISTORY_UNAVAILABLE',
  'INTERNAL_ERROR',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface InvalidParam {
  name: string;
  reason: string;
}

/** A failure with a stable code, HTTP status and client-safe text (never SQL, never a driver message). */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly hint?: string,
    readonly invalidParams?: InvalidParam[],
  ) {
    super(detail);
  }
}

export class InvalidParameterError extends AppError {
  constructor(params: InvalidParam[], hint?: string) {
    super(
      'INVALID_PARAMETER',
      400,
      'Invalid parameter',
      params.map((p) => `${p.name}: ${p.reason}`).join('; '),
      hint,
      params,
    );
  }

  static of(name: string, reason: string, hint?: string): InvalidParameterError {
    return new InvalidParameterError([{ name, reason }], hint);
  }
}

export class DatabaseUnavailableError extends AppError {
  constructor(detail = 'PostgreSQL did not answer; pgscope retries on the next request.') {
    super(
      'DATABASE_UNAVAILABLE',
      503,
      'Database unavailable',
      detail,
      'Check that the server in DATABASE_URL is up and reachable from pgscope.',
    );
  }
}

export class QueryTimeoutError extends AppError {
  constructor(timeoutMs: number, cause: 'statement' | 'lock' = 'statement') {
    super(
      'QUERY_TIMEOUT',
      504,
      'Query timeout',
      cause === 'lock'
        ? 'The monitoring query gave up waiting for a lock held by another session (lock_timeout) and was cancelled.'
        : `The monitoring query was cancelled on the server after ${timeoutMs} ms.`,
      'The server is busy or a catalog is very large: retry, narrow the request with filters, or raise QUERY_TIMEOUT_MS.',
    );
  }
}

export class InsufficientPrivilegeError extends AppError {
  constructor(detail: string, hint = 'GRANT pg_monitor TO <the pgscope role>;') {
    super('INSUFFICIENT_PRIVILEGE', 403, 'Insufficient privilege', detail, hint);
  }
}

export class TargetNotFoundError extends AppError {
  constructor(name: string, known: string[]) {
    super(
      'TARGET_NOT_FOUND',
      404,
      'Target not found',
      `No target is named "${name}".`,
      `The targets are listed at GET /api/db/monitoring/targets${known.length <= 10 ? ` (${known.join(', ')})` : ''}.`,
    );
  }
}

export class DatabaseNotFoundError extends AppError {
  constructor(target: string, database: string) {
    super(
      'DATABASE_NOT_FOUND',
      404,
      'Database not found',
      `Target "${target}" has no database "${database}" that pgscope watches.`,
      `Its databases are listed at GET /api/db/monitoring/targets; a database is watched when the target's ` +
        '"databases" setting names it (or is "all" and pgscope may CONNECT to it).',
    );
  }
}
