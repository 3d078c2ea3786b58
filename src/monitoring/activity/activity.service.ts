import { Inject, Injectable } from '@nestjs/common';
import { buildMeta, pgMonitorWarning, WarningDto } from '../shared/meta.dto';
import { presentQueryText, QueryTextMode } from '../shared/query-text';
import { Env } from '../../config/env';
import { DatabaseProvider } from '../../database/database.provider';
import { ACTIVITY_DEFAULTS, ActivityQueryDto, ActivityResponseDto, SessionDto } from './activity.dto';
import { withDefaults } from '../../http/query';
import { ActivityFilters, SessionRow, sessionsQuery, summaryQuery } from './activity.sql';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

@Injectable()
export class ActivityService {
  constructor(@Inject(Env) private readonly env: Env) {}

  async getActivity(db: DatabaseProvider, query: ActivityQueryDto): Promise<ActivityResponseDto> {
    const started = performance.now();
    const { state: states, ...rest } = withDefaults(ACTIVITY_DEFAULTS, query);
    const filters: ActivityFilters = { states, ...rest };
    return db.read('activity', async ({ sql, info }) => {
      const [summary] = await summaryQuery(sql, info.major);
      const rows = await sessionsQuery(sql, info.major, filters);
      const warnings: WarningDto[] = [];
      if (summary.hiddenSessions > 0) {
        warnings.push(
          pgMonitorWarning(
            info,
            `${summary.hiddenSessions} session(s) of other roles are hidden: their query text, state, timings and ` +
              'client address are null, and their lock waits are not shown.',
          ),
        );
      }
      const { hiddenSessions: _hidden, ...counts } = summary;
      const usable = summary.maxConnections - summary.reservedConnections;
      return {
        meta: buildMeta(info, started, warnings),
        summary: { ...counts, utilization: usable > 0 ? summary.totalConnections / usable : null },
        queryText: this.env.QUERY_TEXT,
        sessions: rows.map((row) => toSession(row, this.env.QUERY_TEXT)),
      };
    });
  }
}

function toSession({ hidden, ...row }: SessionRow, mode: QueryTextMode): SessionDto {
  const shown = hidden || mode === 'none' ? null : row.query;
  return {
    ...row,
    backendStart: iso(row.backendStart),
    transactionStart: iso(row.transactionStart),
    queryStart: iso(row.queryStart),
    stateChange: iso(row.stateChange),
    query: presentQueryText(mode, shown),
    queryTruncated: shown === null ? false : row.queryTruncated,
  };
}
