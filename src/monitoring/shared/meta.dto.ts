import { quoteIdent } from './sql-quote';
import { ApiProperty } from '@nestjs/swagger';
import { ServerInfo } from '../../database/database.provider';
import { WindowMetaDto } from '../../history/window';
import type { WindowCoverage } from '../../history/window-read';

/**
 * The warning codes a client can see in meta.warnings: a public contract, like the error codes (README, "What each
 * endpoint can and cannot tell").
 */
export const WARNING_CODES = [
  /** The role lacks a privilege: part of the answer is hidden (hint: the GRANT). */
  'INSUFFICIENT_PRIVILEGE',
  /** An extension is not created in the database: its part is null (hint: CREATE EXTENSION). */
  'EXTENSION_MISSING',
  /** pg_stat_statements is not in shared_preload_libraries. */
  'NOT_PRELOADED',
  /** Relations under an ACCESS EXCLUSIVE lock were not sized or defined. */
  'RELATION_LOCKED',
  /** pg_stats hides the column statistics of tables the role may not SELECT: their estimates are unavailable. */
  'STATS_HIDDEN',
  /** track_io_timing is off: the I/O times stay 0. */
  'IO_TIMING_OFF',
  /** A pgstattuple scan hit BLOAT_MEASURE_TIMEOUT_MS. */
  'MEASURE_TIMEOUT',
] as const;
export type WarningCode = (typeof WARNING_CODES)[number];

/** Why part of an answer is missing or partial, and how to fix it. */
export class WarningDto {
  @ApiProperty({
    description: 'Stable code (documented in the README): what kind of limit this is',
    enum: WARNING_CODES,
    enumName: 'WarningCode',
    example: 'INSUFFICIENT_PRIVILEGE',
  })
  code!: WarningCode;

  @ApiProperty({ description: 'What cannot be seen, and why', example: 'Query texts of other roles are hidden.' })
  message!: string;

  @ApiProperty({
    description: 'The exact fix, where there is one',
    type: 'string',
    nullable: true,
    example: 'GRANT pg_monitor TO pgscope;',
  })
  hint!: string | null;
}

/** Common to every response. */
export class MetaDto {
  @ApiProperty({ description: 'When the figures were read (ISO 8601)', format: 'date-time' })
  collectedAt!: string;

  @ApiProperty({ description: 'server_version of the watched server', example: '17.10' })
  serverVersion!: string;

  @ApiProperty({ description: 'Time spent collecting, in milliseconds', example: 3.2 })
  durationMs!: number;

  @ApiProperty({
    description:
      'true when this body was served from the shared collection cache (CACHE_TTL_MS) rather than collected for this request',
  })
  cached!: boolean;

  @ApiProperty({ description: 'Age of the figures when served, ms (0 when collected for this request)', example: 0 })
  ageMs!: number;

  @ApiProperty({
    description: 'What this answer could not see and how to fix it; empty when complete',
    type: [WarningDto],
  })
  warnings!: WarningDto[];

  @ApiProperty({
    type: WindowMetaDto,
    nullable: true,
    description:
      'The window of a windowed answer (window, or from and to): what its deltas cover, and the gaps in it; null ' +
      'for a live answer (cumulative since the last reset)',
  })
  window!: WindowMetaDto | null;
}

export function warning(code: WarningCode, message: string, hint: string | null = null): WarningDto {
  return { code, message, hint };
}

/** The warning every family gives to a role that lacks pg_monitor. */
export function pgMonitorWarning(info: ServerInfo, what: string): WarningDto {
  return warning(
    'INSUFFICIENT_PRIVILEGE',
    `Role "${info.currentUser}" is not a member of pg_monitor: ${what}`,
    `GRANT pg_monitor TO ${quoteIdent(info.currentUser)};`,
  );
}

export function buildMeta(info: ServerInfo, startedAt: number, warnings: WarningDto[] = []): MetaDto {
  return {
    collectedAt: new Date().toISOString(),
    serverVersion: shortVersion(info.version),
    durationMs: Math.round((performance.now() - startedAt) * 100) / 100,
    // Serialised as "cached":false,"ageMs":0, which the response cache rewrites on a hit (FRESH_MARK).
    cached: false,
    ageMs: 0,
    warnings,
    window: null,
  };
}

/**
 * The meta of an answer read from the history store: collectedAt is the newest snapshot in the window (or now, with
 * none), serverVersion the one it recorded.
 */
export function windowedMeta(coverage: WindowCoverage, startedAt: number, warnings: WarningDto[] = []): MetaDto {
  return {
    collectedAt: (coverage.lastAt ?? new Date()).toISOString(),
    serverVersion: coverage.serverVersion ?? 'unknown',
    durationMs: Math.round((performance.now() - startedAt) * 100) / 100,
    cached: false,
    ageMs: 0,
    warnings,
    window: coverage.meta,
  };
}

/** "PostgreSQL 17.10 on x86_64…" -> "17.10". */
export function shortVersion(version: string): string {
  return /^PostgreSQL (\S+)/.exec(version)?.[1] ?? version;
}
