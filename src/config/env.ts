import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

/**
 * The process configuration, read from the environment once at start.
 * Each property's `expects` text is what the one-line start-up error says.
 */
export class Env {
  /** postgres:// URL of the server to watch; absent = start an embedded demo server. */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/)
  DATABASE_URL?: string;

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
}

const EXPECTS: Record<keyof Env, string> = {
  DATABASE_URL: 'a postgres:// or postgresql:// connection URL',
  HOST: 'an address to listen on, such as 127.0.0.1 or 0.0.0.0',
  PORT: 'an integer port from 0 to 65535',
  QUERY_TIMEOUT_MS: 'an integer number of milliseconds from 100 to 600000',
  POOL_MAX: 'an integer from 1 to 50 (connections to PostgreSQL)',
  LOG_LEVEL: `one of ${LOG_LEVELS.join(', ')}`,
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
  return env;
}
