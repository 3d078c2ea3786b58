import { plainToInstance, Transform } from 'class-transformer';
import fs from 'node:fs';
import os from 'node:os';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsUrl,
  IsString,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;

/** QUERY_TEXT: how much of the SQL texts of sessions and statements the API shows. */
export const QUERY_TEXT_MODES = ['full', 'redacted', 'none'] as const;
export type QueryTextMode = (typeof QUERY_TEXT_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

const toNumber = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;

/** `2s`, `60s`, `5m`, `1h`, `1d` (or plain milliseconds) to milliseconds; anything else is left for validation. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'] ?? 1;
  return Number(m[1]) * unit;
}

const toDuration = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? (parseDuration(value) ?? value) : value;

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

/**
 * The process configuration, read from the environment once at start.
 * Each property's `expects` text is what the one-line start-up error says.
 */
export class Env {
  /** postgres:// URL of the server to watch (the target "default"); absent with TARGETS_FILE = the embedded demo. */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/)
  DATABASE_URL?: string;

  /** A YAML (or JSON) file of targets: `targets: [{ name, url, databases, labels, poolMax, … }]`. */
  @IsOptional()
  @IsString()
  TARGETS_FILE?: string;

  /** At most this many targets per instance. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  MAX_TARGETS = 200;

  /** How often each target is pinged (its status in /targets) and its databases discovered again. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  TARGETS_CHECK_MS = 30_000;

  @IsString()
  @Matches(/^\S+$/)
  HOST = '127.0.0.1';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600_000)
  QUERY_TIMEOUT_MS = 5000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(50)
  POOL_MAX = 4;

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'log';

  /** Bearer tokens accepted on /api (comma-separated). */
  @IsOptional()
  @IsString()
  @Matches(/^[^\s,]+(,[^\s,]+)*$/)
  API_TOKENS?: string;

  /** A file holding bearer tokens (one per line or comma-separated), for secrets mounted as files. */
  @IsOptional()
  @IsString()
  API_TOKENS_FILE?: string;

  /** Serve /api without tokens on a non-loopback address (logged as a warning at every start). */
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  ALLOW_UNAUTHENTICATED = false;

  /** Requests per minute one client (remote address) may make to /api and /docs; 0 turns the limit off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PER_MINUTE = 1200;

  /** How much of the SQL texts of sessions and statements /api shows. */
  @IsIn(QUERY_TEXT_MODES)
  QUERY_TEXT: QueryTextMode = 'full';

  /** How long a collected answer is served to identical requests; 0 turns the shared cache off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(600_000)
  CACHE_TTL_MS = 1000;

  /** A hit ratio at or above this is `good` (/cache). */
  @Transform(toNumber)
  @IsNumber()
  @Min(0)
  @Max(1)
  HIT_RATIO_GOOD = 0.99;

  /** A hit ratio at or above this (and below HIT_RATIO_GOOD) is `warning`; below it, `critical`. */
  @Transform(toNumber)
  @IsNumber()
  @Min(0)
  @Max(1)
  HIT_RATIO_WARNING = 0.95;

  /** Statement timeout of each pgstattuple scan of bloat=measured. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  BLOAT_MEASURE_TIMEOUT_MS = 30_000;

  /**
   * The costly figures (relation and database sizes, whole-catalogue bloat estimates, shared buffer contents) are
   * read at most this often and served with their age; 0 reads them for every request.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400_000)
  SIZES_MAX_AGE_MS = 300_000;

  /** `off` keeps no history: windowed requests are 409 HISTORY_DISABLED. */
  @IsIn(['on', 'off'])
  HISTORY: 'on' | 'off' = 'on';

  /** The embedded store's data directory (kept across starts). */
  @IsString()
  HISTORY_DIR = './.pgscope/history';

  /** An external PostgreSQL 13+ to keep the history in, instead of the embedded one. */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/)
  HISTORY_DATABASE_URL?: string;

  /**
   * This instance's name among those sharing one store (HISTORY_DATABASE_URL): the holder of its leases, the
   * writer of its snapshots. Two live instances must not share one.
   */
  @Matches(/^[A-Za-z0-9][\w.:@-]{0,99}$/)
  INSTANCE_ID = `${os.hostname()}-${process.pid}`;

  /**
   * Instances sharing a store: a target whose collector died (or lost the store) is collected by another within
   * this many seconds. Its lease lasts 60% of it, renewed every sixth.
   */
  @Transform(toInt)
  @IsInt()
  @Min(3)
  @Max(600)
  LEASE_TAKEOVER_SECONDS = 15;

  /** Snapshots older than this are dropped (whole day partitions). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  HISTORY_RETENTION_DAYS = 14;

  /** Cadence of pg_stat_statements snapshots. */
  @Transform(toDuration)
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  HISTORY_STATEMENTS_INTERVAL = 60_000;

  /** Cadence of pg_stat_database snapshots. */
  @Transform(toDuration)
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  HISTORY_DATABASE_INTERVAL = 60_000;

  /** Cadence of table and index counter snapshots (per database). */
  @Transform(toDuration)
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  HISTORY_RELATIONS_INTERVAL = 300_000;

  /** Cadence of size and bloat estimate snapshots (per database). */
  @Transform(toDuration)
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  HISTORY_SIZES_INTERVAL = 1_800_000;

  /** Database load: pg_stat_activity is sampled this often per target, in ms (0 = off). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60_000)
  LOAD_SAMPLE_MS = 1000;

  /** Samples are aggregated in memory into buckets of this many seconds, written once each. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  LOAD_BUCKET_SECONDS = 10;

  /** Thresholds of the checks (YAML); absent: the defaults. */
  @IsOptional()
  @IsString()
  CHECKS_FILE?: string;

  /** Where check status changes are POSTed (JSON), if anywhere. */
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  ALERT_WEBHOOK_URL?: string;

  /** The key of the X-Pgscope-Signature HMAC-SHA256 of each webhook body. */
  @IsOptional()
  @IsString()
  ALERT_WEBHOOK_SECRET?: string;

  /** Alertmanager's base URL (alerts go to its /api/v2/alerts), if any. */
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  ALERTMANAGER_URL?: string;

  /** /metrics: each family of each target is collected at most this often, in ms, whatever the scrapers. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  METRICS_TTL_MS = 10_000;

  /** /metrics: per-statement series for this many statements (by total time); the rest in queryid="other". */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000)
  METRICS_TOP_STATEMENTS = 50;

  /** /metrics: per-table series for this many tables (by size); the rest in table="other". */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100_000)
  METRICS_TOP_RELATIONS = 100;

  /** /metrics also accepts these bearer tokens (comma-separated), besides API_TOKENS. */
  @IsOptional()
  @IsString()
  @Matches(/^[^\s,]+(,[^\s,]+)*$/)
  METRICS_TOKENS?: string;

  /** Below this many blocks (hit + read) a ratio gets no status: too little traffic to judge. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  HIT_RATIO_MIN_BLOCKS = 1000;
}

const EXPECTS: Record<keyof Env, string> = {
  DATABASE_URL: 'a postgres:// or postgresql:// connection URL',
  TARGETS_FILE: 'the path of a readable YAML file of targets',
  MAX_TARGETS: 'an integer from 1 to 10000',
  TARGETS_CHECK_MS: 'an integer number of milliseconds from 1000 to 3600000',
  HOST: 'an address to listen on, such as 127.0.0.1 or 0.0.0.0',
  PORT: 'an integer port from 0 to 65535',
  QUERY_TIMEOUT_MS: 'an integer number of milliseconds from 100 to 600000',
  POOL_MAX: 'an integer from 1 to 50 (connections to PostgreSQL)',
  LOG_LEVEL: `one of ${LOG_LEVELS.join(', ')}`,
  API_TOKENS: 'comma-separated tokens without spaces',
  API_TOKENS_FILE: 'the path of a readable file of tokens',
  ALLOW_UNAUTHENTICATED: 'true or false',
  RATE_LIMIT_PER_MINUTE: 'an integer from 0 (no limit) to 1000000',
  QUERY_TEXT: `one of ${QUERY_TEXT_MODES.join(', ')}`,
  CACHE_TTL_MS: 'an integer number of milliseconds from 0 to 600000 (0 = no cache)',
  HIT_RATIO_GOOD: 'a number from 0 to 1',
  HIT_RATIO_WARNING: 'a number from 0 to 1, not above HIT_RATIO_GOOD',
  HIT_RATIO_MIN_BLOCKS: 'a non-negative integer',
  BLOAT_MEASURE_TIMEOUT_MS: 'an integer number of milliseconds from 100 to 3600000',
  SIZES_MAX_AGE_MS: 'an integer number of milliseconds from 0 (read for every request) to 86400000',
  HISTORY: 'on or off',
  HISTORY_DIR: 'a directory path',
  HISTORY_DATABASE_URL: 'a postgres:// or postgresql:// connection URL of a PostgreSQL 13 or later',
  HISTORY_RETENTION_DAYS: 'an integer number of days from 1 to 3650',
  INSTANCE_ID: 'a name of 1 to 100 letters, digits and . _ : @ - (starting with a letter or digit)',
  LEASE_TAKEOVER_SECONDS: 'an integer number of seconds from 3 to 600',
  HISTORY_STATEMENTS_INTERVAL: 'a duration from 1s to 1d, such as 10s, 60s or 5m',
  HISTORY_DATABASE_INTERVAL: 'a duration from 1s to 1d, such as 10s, 60s or 5m',
  HISTORY_RELATIONS_INTERVAL: 'a duration from 1s to 1d, such as 10s, 60s or 5m',
  HISTORY_SIZES_INTERVAL: 'a duration from 1s to 1d, such as 10s, 60s or 5m',
  LOAD_SAMPLE_MS: 'an integer number of milliseconds from 0 (off) to 60000',
  LOAD_BUCKET_SECONDS: 'an integer number of seconds from 1 to 3600',
  CHECKS_FILE: 'the path of a readable YAML file',
  ALERT_WEBHOOK_URL: 'an http(s) URL',
  ALERT_WEBHOOK_SECRET: 'a string',
  ALERTMANAGER_URL: 'an http(s) URL such as http://alertmanager:9093',
  METRICS_TTL_MS: 'an integer number of milliseconds from 0 to 3600000',
  METRICS_TOP_STATEMENTS: 'an integer from 0 to 10000',
  METRICS_TOP_RELATIONS: 'an integer from 0 to 100000',
  METRICS_TOKENS: 'comma-separated tokens without spaces',
};

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly expects: string,
  ) {
    super(`Invalid configuration: ${variable} must be ${expects}`);
  }
}

/** Reads and validates the configuration; throws a ConfigError naming the first bad variable. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(EXPECTS)) {
    const value = source[key];
    // An empty variable counts as unset, as in most shells' `VAR= cmd`.
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const env = plainToInstance(Env, raw);
  const errors = validateSync(env, { forbidUnknownValues: true });
  if (errors.length > 0) {
    const variable = errors[0].property as keyof Env;
    throw new ConfigError(variable, EXPECTS[variable]);
  }
  if (env.HIT_RATIO_WARNING > env.HIT_RATIO_GOOD) throw new ConfigError('HIT_RATIO_WARNING', EXPECTS.HIT_RATIO_WARNING);
  if (env.API_TOKENS_FILE !== undefined) {
    try {
      fs.accessSync(env.API_TOKENS_FILE, fs.constants.R_OK);
    } catch {
      throw new ConfigError('API_TOKENS_FILE', EXPECTS.API_TOKENS_FILE);
    }
  }
  return env;
}

/** The bearer tokens /metrics accepts besides the API's. */
export function metricsTokens(env: Env): string[] {
  return (env.METRICS_TOKENS ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

/** The accepted bearer tokens: API_TOKENS and the lines (or comma-separated values) of API_TOKENS_FILE. */
export function apiTokens(env: Env): string[] {
  const fromFile = env.API_TOKENS_FILE ? fs.readFileSync(env.API_TOKENS_FILE, 'utf8') : '';
  return [...(env.API_TOKENS ?? '').split(','), ...fromFile.split(/[\s,]+/)].map((t) => t.trim()).filter(Boolean);
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
