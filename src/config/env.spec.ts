import os from 'node:os';
import { apiTokens, ConfigError, isLoopback, loadEnv } from './env';

describe('loadEnv', () => {
  it('applies the documented defaults', () => {
    expect({ ...loadEnv({}) }).toEqual({
      HISTORY: 'on',
      HISTORY_DIR: './.pgscope/history',
      HISTORY_RETENTION_DAYS: 14,
      INSTANCE_ID: `${os.hostname()}-${process.pid}`,
      LEASE_TAKEOVER_SECONDS: 15,
      HISTORY_STATEMENTS_INTERVAL: 60_000,
      HISTORY_DATABASE_INTERVAL: 60_000,
      HISTORY_RELATIONS_INTERVAL: 300_000,
      HISTORY_SIZES_INTERVAL: 1_800_000,
      LOAD_SAMPLE_MS: 1000,
      LOAD_BUCKET_SECONDS: 10,
      METRICS_TTL_MS: 10000,
      METRICS_TOP_STATEMENTS: 50,
      METRICS_TOP_RELATIONS: 100,
      HOST: '127.0.0.1',
      PORT: 3000,
      MAX_TARGETS: 200,
      TARGETS_CHECK_MS: 30000,
      QUERY_TIMEOUT_MS: 5000,
      POOL_MAX: 4,
      LOG_LEVEL: 'log',
      ALLOW_UNAUTHENTICATED: false,
      RATE_LIMIT_PER_MINUTE: 1200,
      QUERY_TEXT: 'full',
      CACHE_TTL_MS: 1000,
      HIT_RATIO_GOOD: 0.99,
      HIT_RATIO_WARNING: 0.95,
      HIT_RATIO_MIN_BLOCKS: 1000,
      BLOAT_MEASURE_TIMEOUT_MS: 30000,
      SIZES_MAX_AGE_MS: 300000,
    });
  });

  it('reads and converts every variable', () => {
    const env = loadEnv({
      DATABASE_URL: 'postgresql://u:p@db:5432/app',
      HOST: '0.0.0.0',
      PORT: '8080',
      QUERY_TIMEOUT_MS: '2500',
      POOL_MAX: '2',
      LOG_LEVEL: 'debug',
      HIT_RATIO_GOOD: '0.98',
      HIT_RATIO_WARNING: '0.9',
      HIT_RATIO_MIN_BLOCKS: '50',
      RATE_LIMIT_PER_MINUTE: '0',
      QUERY_TEXT: 'redacted',
      SIZES_MAX_AGE_MS: '0',
      HISTORY_DATABASE_URL: 'postgres://h:p@store:5432/history',
      HISTORY_RETENTION_DAYS: '30',
      HISTORY_STATEMENTS_INTERVAL: '10s',
      HISTORY_DATABASE_INTERVAL: '2m',
      HISTORY_RELATIONS_INTERVAL: '1h',
      HISTORY_SIZES_INTERVAL: '1500ms',
      LOAD_SAMPLE_MS: '250',
      LOAD_BUCKET_SECONDS: '5',
      INSTANCE_ID: 'monitor-1.eu:a',
      LEASE_TAKEOVER_SECONDS: '30',
    });
    expect({ ...env }).toEqual({
      HISTORY: 'on',
      HISTORY_DIR: './.pgscope/history',
      HISTORY_DATABASE_URL: 'postgres://h:p@store:5432/history',
      HISTORY_RETENTION_DAYS: 30,
      INSTANCE_ID: 'monitor-1.eu:a',
      LEASE_TAKEOVER_SECONDS: 30,
      HISTORY_STATEMENTS_INTERVAL: 10_000,
      HISTORY_DATABASE_INTERVAL: 120_000,
      HISTORY_RELATIONS_INTERVAL: 3_600_000,
      HISTORY_SIZES_INTERVAL: 1500,
      LOAD_SAMPLE_MS: 250,
      LOAD_BUCKET_SECONDS: 5,
      METRICS_TTL_MS: 10000,
      METRICS_TOP_STATEMENTS: 50,
      METRICS_TOP_RELATIONS: 100,
      ALLOW_UNAUTHENTICATED: false,
      RATE_LIMIT_PER_MINUTE: 0,
      QUERY_TEXT: 'redacted',
      CACHE_TTL_MS: 1000,
      HIT_RATIO_GOOD: 0.98,
      HIT_RATIO_WARNING: 0.9,
      HIT_RATIO_MIN_BLOCKS: 50,
      BLOAT_MEASURE_TIMEOUT_MS: 30000,
      SIZES_MAX_AGE_MS: 0,
      MAX_TARGETS: 200,
      TARGETS_CHECK_MS: 30000,
      DATABASE_URL: 'postgresql://u:p@db:5432/app',
      HOST: '0.0.0.0',
      PORT: 8080,
      QUERY_TIMEOUT_MS: 2500,
      POOL_MAX: 2,
      LOG_LEVEL: 'debug',
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadEnv({ PORT: '', DATABASE_URL: '' }).PORT).toBe(3000);
  });

  it.each([
    ['PORT', 'abc', 'PORT must be an integer port from 0 to 65535'],
    ['PORT', '70000', 'PORT must be an integer port from 0 to 65535'],
    ['PORT', '80.5', 'PORT must be an integer port from 0 to 65535'],
    ['QUERY_TIMEOUT_MS', '10', 'QUERY_TIMEOUT_MS must be an integer number of milliseconds from 100 to 600000'],
    ['POOL_MAX', '0', 'POOL_MAX must be an integer from 1 to 50'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL must be one of fatal, error, warn, log, debug, verbose'],
    ['QUERY_TEXT', 'some', 'QUERY_TEXT must be one of full, redacted, none'],
    ['RATE_LIMIT_PER_MINUTE', '-1', 'RATE_LIMIT_PER_MINUTE must be an integer from 0 (no limit) to 1000000'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL must be a postgres:// or postgresql:// connection URL'],
    ['HOST', 'a b', 'HOST must be an address to listen on'],
    ['API_TOKENS', 'a, b', 'API_TOKENS must be comma-separated tokens without spaces'],
    ['API_TOKENS_FILE', '/nonexistent/tokens', 'API_TOKENS_FILE must be the path of a readable file of tokens'],
    ['ALLOW_UNAUTHENTICATED', 'yes', 'ALLOW_UNAUTHENTICATED must be true or false'],
    ['HIT_RATIO_GOOD', '1.5', 'HIT_RATIO_GOOD must be a number from 0 to 1'],
    ['HIT_RATIO_WARNING', '0.999', 'HIT_RATIO_WARNING must be a number from 0 to 1, not above HIT_RATIO_GOOD'],
    ['HIT_RATIO_MIN_BLOCKS', '-3', 'HIT_RATIO_MIN_BLOCKS must be a non-negative integer'],
    ['HISTORY', 'yes', 'HISTORY must be on or off'],
    ['HISTORY_RETENTION_DAYS', '0', 'HISTORY_RETENTION_DAYS must be an integer number of days from 1 to 3650'],
    ['INSTANCE_ID', 'a b', 'INSTANCE_ID must be a name of 1 to 100 letters, digits and . _ : @ -'],
    ['LEASE_TAKEOVER_SECONDS', '2', 'LEASE_TAKEOVER_SECONDS must be an integer number of seconds from 3 to 600'],
    [
      'HISTORY_STATEMENTS_INTERVAL',
      '60',
      'HISTORY_STATEMENTS_INTERVAL must be a duration from 1s to 1d, such as 10s, 60s or 5m',
    ],
    ['HISTORY_SIZES_INTERVAL', '2d', 'HISTORY_SIZES_INTERVAL must be a duration from 1s to 1d, such as 10s, 60s or 5m'],
    ['LOAD_SAMPLE_MS', '-1', 'LOAD_SAMPLE_MS must be an integer number of milliseconds from 0 (off) to 60000'],
    ['LOAD_BUCKET_SECONDS', '0', 'LOAD_BUCKET_SECONDS must be an integer number of seconds from 1 to 3600'],
    ['METRICS_TOP_STATEMENTS', '-1', 'METRICS_TOP_STATEMENTS must be an integer from 0 to 10000'],
    ['METRICS_TOKENS', 'a b', 'METRICS_TOKENS must be comma-separated tokens without spaces'],
    [
      'HISTORY_DATABASE_URL',
      'mysql://x',
      'HISTORY_DATABASE_URL must be a postgres:// or postgresql:// connection URL of a PostgreSQL 13 or later',
    ],
  ])('rejects %s=%s with one line naming it', (name, value, message) => {
    let error: unknown;
    try {
      loadEnv({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as ConfigError).message).toContain(message);
    expect((error as ConfigError).message).not.toContain('\n');
  });
});

describe('apiTokens and isLoopback', () => {
  it('joins API_TOKENS and the file, one per line or comma-separated', () => {
    const file = require('node:path').join(require('node:os').tmpdir(), `pgscope-tokens-${process.pid}`);
    require('node:fs').writeFileSync(file, 'from-file-1\nfrom-file-2, from-file-3\n');
    expect(apiTokens(loadEnv({ API_TOKENS: 'a,b', API_TOKENS_FILE: file }))).toEqual([
      'a',
      'b',
      'from-file-1',
      'from-file-2',
      'from-file-3',
    ]);
    expect(apiTokens(loadEnv({}))).toEqual([]);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
  ])('%s is loopback: %s', (host, expected) => {
    expect(isLoopback(host)).toBe(expected);
  });
});
