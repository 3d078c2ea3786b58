import { ApiProperty } from '@nestjs/swagger';
import { ServerInfo } from '../../database/database.provider';

/** Why part of an answer is missing or partial, and how to fix it. */
export class WarningDto {
  @ApiProperty({
    description:
      'Stable code: INSUFFICIENT_PRIVILEGE, EXTENSION_MISSING, NOT_PRELOADED, RELATION_LOCKED, STATS_HIDDEN, ...',
    example: 'INSUFFICIENT_PRIVILEGE',
  })
  code!: string;

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
}

export function warning(code: string, message: string, hint: string | null = null): WarningDto {
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
  };
}

/** "PostgreSQL 17.10 on x86_64…" -> "17.10". */
function shortVersion(version: string): string {
  return /^PostgreSQL (\S+)/.exec(version)?.[1] ?? version;
}

function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
