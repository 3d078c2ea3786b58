import { DatabaseUnavailableError, InsufficientPrivilegeError, QueryTimeoutError } from './errors';
import { isConnectionError, mapPgError } from './pg-errors';

describe('mapPgError', () => {
  it.each(['ECONNREFUSED', 'ECONNRESET', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT', '57P01', '08006', '53300'])(
    'maps %s to DATABASE_UNAVAILABLE',
    (code) => {
      expect(isConnectionError({ code })).toBe(true);
      expect(mapPgError({ code }, 5000)).toBeInstanceOf(DatabaseUnavailableError);
    },
  );

  it('maps a cancelled statement (57014) to QUERY_TIMEOUT naming the timeout', () => {
    const err = mapPgError({ code: '57014' }, 1234);
    expect(err).toBeInstanceOf(QueryTimeoutError);
    expect(err?.status).toBe(504);
    expect(err?.detail).toContain('1234 ms');
  });

  it('maps a lock timeout (55P03) to QUERY_TIMEOUT about the lock', () => {
    const err = mapPgError({ code: '55P03' }, 1000);
    expect(err?.code).toBe('QUERY_TIMEOUT');
    expect(err?.detail).toContain('lock');
  });

  it('maps a missing privilege (42501) to INSUFFICIENT_PRIVILEGE with a GRANT hint', () => {
    const err = mapPgError({ code: '42501', message: 'permission denied for function secret' }, 1000);
    expect(err).toBeInstanceOf(InsufficientPrivilegeError);
    expect(err?.hint).toContain('GRANT pg_monitor');
    expect(err?.detail).not.toContain('secret');
  });

  it('leaves anything else unmapped (a 500 with nothing of the driver text)', () => {
    expect(mapPgError({ code: '42P01', message: 'relation "x" does not exist' }, 1000)).toBeUndefined();
    expect(mapPgError(new Error('boom'), 1000)).toBeUndefined();
  });
});
