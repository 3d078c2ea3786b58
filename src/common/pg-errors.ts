import { AppError, DatabaseUnavailableError, InsufficientPrivilegeError, QueryTimeoutError } from './errors';

/** SQLSTATE classes and codes that mean "the server cannot be reached or went away". */
const CONNECTION_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '57P05',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);
/** Error codes postgres.js and Node give to socket-level failures. */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'CONNECTION_CONNECT_TIMEOUT',
]);

/**
 * A connection that died while idle in the pool (terminated by a DBA or idle_session_timeout, reset by a proxy or a
 * restart): postgres.js reports it to the next query sent on it. Refused connections and timeouts are not here:
 * the server is down, and trying again would only double the wait.
 */
const STALE_CONNECTION_CODES = new Set([
  '57P01',
  '57P02',
  '57P05',
  // idle_in_transaction_session_timeout ended it: this process stalled mid-read (a frozen or overloaded host).
  '25P03',
  'ECONNRESET',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

export function isStaleConnectionError(err: unknown): boolean {
  const code = (err as PgLikeError | undefined)?.code;
  return typeof code === 'string' && STALE_CONNECTION_CODES.has(code);
}

export interface PgLikeError {
  code?: string;
  message?: string;
  severity?: string;
}

export function isConnectionError(err: unknown): boolean {
  const code = (err as PgLikeError | undefined)?.code;
  return typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || CONNECTION_SQLSTATES.has(code));
}

/** Maps a driver error to the client-facing error; the original goes to the log, never to the client. */
export function mapPgError(err: unknown, timeoutMs: number): AppError | undefined {
  if (err instanceof AppError) return err;
  const code = (err as PgLikeError | undefined)?.code;
  if (isConnectionError(err)) return new DatabaseUnavailableError();
  if (code === '57014') return new QueryTimeoutError(timeoutMs);
  // lock_timeout: something (a migration, a VACUUM FULL) holds a lock this read needs; waiting is not an option.
  if (code === '55P03') return new QueryTimeoutError(timeoutMs, 'lock');
  if (code === '42501') {
    return new InsufficientPrivilegeError('The pgscope role may not read a view or function this request needs.');
  }
  if (code === '28P01' || code === '28000' || code === '3D000') {
    return new DatabaseUnavailableError("PostgreSQL refused pgscope's login (authentication or unknown database).");
  }
  return undefined;
}

/**
 * Any connection URL in a text with its password replaced by "***": the only form of a URL that may reach a log
 * line (no text of a driver error reaches a client at all).
 */
export function maskCredentials(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}
