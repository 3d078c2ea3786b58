import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AppError, ErrorCode, InvalidParameterError } from '../common/errors';
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem';

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'INVALID_PARAMETER',
  401: 'UNAUTHORIZED',
  403: 'INSUFFICIENT_PRIVILEGE',
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED',
  503: 'DATABASE_UNAVAILABLE',
  504: 'QUERY_TIMEOUT',
};

/**
 * Writes every error as RFC 9457 problem+json. Only AppError text and HTTP-layer messages reach the client;
 * anything else is logged and answered with a generic 500.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const ctx = host.switchToHttp();
    const error = this.toAppError(exception);
    const response = ctx.getResponse();
    httpAdapter.setHeader(response, 'content-type', PROBLEM_CONTENT_TYPE);
    httpAdapter.reply(response, problemBody(error), error.status);
  }

  private toAppError(exception: unknown): AppError {
    if (exception instanceof AppError) return exception;
    if (exception instanceof HttpException) return this.fromHttpException(exception);
    // Errors raised by Fastify itself (body too large, bad content type, malformed JSON) carry a statusCode.
    const statusCode = (exception as { statusCode?: unknown } | undefined)?.statusCode;
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return new AppError(
        CODE_BY_STATUS[statusCode] ?? 'INVALID_PARAMETER',
        statusCode,
        httpTitle(statusCode),
        'The request was rejected by the HTTP layer.',
      );
    }
    this.logger.error(`Unhandled error: ${exception instanceof Error ? exception.stack : String(exception)}`);
    return new AppError('INTERNAL_ERROR', 500, 'Internal error', 'pgscope failed to answer; the cause is in its log.');
  }

  private fromHttpException(exception: HttpException): AppError {
    const status = exception.getStatus();
    if (status === HttpStatus.NOT_FOUND) {
      return new AppError('NOT_FOUND', 404, 'Not found', 'No such route. The API is described at /docs.');
    }
    if (status === HttpStatus.BAD_REQUEST) {
      return new InvalidParameterError([{ name: '(request)', reason: messageOf(exception) }]);
    }
    const code = CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'INVALID_PARAMETER');
    return new AppError(code, status, httpTitle(status), messageOf(exception));
  }
}

function messageOf(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : exception.message;
}

function httpTitle(status: number): string {
  const name = HttpStatus[status];
  if (!name) return 'Error';
  return name
    .toLowerCase()
    .split('_')
    .map((w, i) => (i === 0 ? w[0].toUpperCase() + w.slice(1) : w))
    .join(' ');
}
