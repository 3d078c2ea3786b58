import { Injectable } from '@nestjs/common';
import { buildMeta, pgMonitorWarning, warning, WarningDto } from '../shared/meta.dto';
import { DatabaseProvider, ServerInfo } from '../../database/database.provider';
import { CapabilitiesDto, ExtensionCapabilityDto, ServerOverviewDto } from './overview.dto';
import { SlowFiguresRegistry } from '../shared/sizes';
import { databaseSizeQuery, overviewQuery } from './overview.sql';

@Injectable()
export class OverviewService {
  constructor(private readonly slow: SlowFiguresRegistry) {}

  async getOverview(db: DatabaseProvider): Promise<ServerOverviewDto> {
    const started = performance.now();
    const size = await this.slow
      .of(db)
      .get('database-size', () => db.read('database-size', async ({ sql }) => (await databaseSizeQuery(sql))[0].bytes));
    return db.read('overview', async ({ sql, info, extension: lookUp }) => {
      const [row] = await overviewQuery(sql);
      // Looked up again where the facts say missing, so an extension created a moment ago shows at once.
      for (const name of ['pg_stat_statements', 'pgstattuple', 'pg_buffercache']) await lookUp(name);
      return {
        meta: buildMeta(info, started, capabilityWarnings(info)),
        version: row.version,
        versionNum: info.versionNum,
        startedAt: row.startedAt.toISOString(),
        uptimeSeconds: row.uptimeSeconds,
        currentDatabase: info.currentDatabase,
        currentUser: info.currentUser,
        databaseSizeBytes: size.value,
        databaseSizeCollectedAt: size.collectedAt.toISOString(),
        maxConnections: row.maxConnections,
        isInRecovery: row.isInRecovery,
        capabilities: capabilitiesOf(info),
        settings: {
          trackIoTiming: row.trackIoTiming,
          trackActivityQuerySize: row.trackActivityQuerySize,
          computeQueryId: row.computeQueryId,
        },
      };
    });
  }
}

/** What pgscope can read there with its role: the overview's, and each target's in /targets. */
export function capabilitiesOf(info: ServerInfo): CapabilitiesDto {
  return {
    pgStatStatements: { ...extension(info, 'pg_stat_statements'), preloaded: info.pgStatStatementsPreloaded },
    pgstattuple: extension(info, 'pgstattuple'),
    pgBuffercache: extension(info, 'pg_buffercache'),
    pgMonitor: info.pgMonitor,
    superuser: info.superuser,
  };
}

function extension(info: ServerInfo, name: string): ExtensionCapabilityDto {
  const ext = info.extensions[name];
  return { installed: ext !== undefined, version: ext?.version ?? null, schema: ext?.schema ?? null };
}

function capabilityWarnings(info: ServerInfo): WarningDto[] {
  const warnings: WarningDto[] = [];
  if (!info.pgMonitor) warnings.push(pgMonitorWarning(info, "other roles' sessions and query texts are hidden."));
  if (!info.pgStatStatementsPreloaded) {
    warnings.push(
      warning(
        'NOT_PRELOADED',
        'pg_stat_statements is not in shared_preload_libraries: /statements cannot answer.',
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; then restart PostgreSQL.",
      ),
    );
  }
  if (!info.extensions.pg_stat_statements) {
    warnings.push(
      warning(
        'EXTENSION_MISSING',
        `pg_stat_statements is not created in database "${info.currentDatabase}": /statements cannot answer.`,
        'CREATE EXTENSION pg_stat_statements;',
      ),
    );
  }
  return warnings;
}
