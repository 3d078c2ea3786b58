import { Inject, Injectable } from '@nestjs/common';
import { InvalidParameterError } from '../../common/errors';
import { buildMeta, pgMonitorWarning, warning, WarningDto } from '../shared/meta.dto';
import { likeContains } from '../../http/query';
import { presentQueryText } from '../shared/query-text';
import { Env } from '../../config/env';
import { DatabaseProvider, ReadContext, SELF_MARKER, Tx } from '../../database/database.provider';
import { StatementDto, StatementsQueryDto, StatementsResponseDto } from './statements.dto';
import { PgStatStatementsUnavailableError } from './statements.errors';
import {
  EntryKey,
  extensionVersionNumber,
  ownEntriesQuery,
  StatementRow,
  statementsInfoQuery,
  statementsQuery,
  textsQuery,
} from './statements.sql';

/** The transaction control postgres.js sends for pgscope (it cannot carry the marker). */
const TRANSACTION_CONTROL = /^\s*(begin read only|commit|rollback|(release |rollback to )?savepoint \S+)\s*;?\s*$/i;
const isSelfText = (text: string): boolean => text.includes(SELF_MARKER) || TRANSACTION_CONTROL.test(text);
const TEXT_CACHE_MAX = 20_000;
const keyOf = (k: EntryKey): string => `${k.userid}:${k.dbid}:${k.queryid}:${k.toplevel}`;

@Injectable()
export class StatementsService {
  /**
   * Texts by entry. An entry's text never changes while it exists, and reading texts makes PostgreSQL load its
   * whole query-text file, so a text is fetched once and a polled top-N costs no text reads at all.
   */
  private readonly texts = new Map<string, string | null>();

  constructor(
    private readonly db: DatabaseProvider,
    @Inject(Env) private readonly env: Env,
  ) {}

  async listStatements(query: StatementsQueryDto): Promise<StatementsResponseDto> {
    const started = performance.now();
    if (query.search !== undefined && this.env.QUERY_TEXT !== 'full') {
      throw InvalidParameterError.of(
        'search',
        `is disabled because QUERY_TEXT=${this.env.QUERY_TEXT}: its matches would reveal the texts it hides`,
      );
    }
    try {
      return await this.db.read('statements', (ctx) => this.collect(ctx, query, started));
    } catch (err) {
      // The extension's objects exist but the library is not loaded (e.g. after a restart without the preload).
      if ((err as { code?: string }).code === '55000' && /shared_preload_libraries/.test(String(err))) {
        throw new PgStatStatementsUnavailableError('not_preloaded', '');
      }
      throw err;
    }
  }

  private async collect(ctx: ReadContext, query: StatementsQueryDto, started: number): Promise<StatementsResponseDto> {
    const { sql, info } = ctx;
    if (!info.pgStatStatementsPreloaded) {
      throw new PgStatStatementsUnavailableError('not_preloaded', info.currentDatabase);
    }
    const extension = await ctx.extension('pg_stat_statements');
    if (!extension) throw new PgStatStatementsUnavailableError('not_installed', info.currentDatabase);
    const ext = extensionVersionNumber(extension.version);
    if (query.toplevel !== undefined && ext < 109) {
      throw InvalidParameterError.of(
        'toplevel',
        `needs pg_stat_statements 1.9 (PostgreSQL 14) or later; this database has ${extension.version}`,
      );
    }
    const schema = extension.schema;
    const [stats] = await statementsInfoQuery(sql, schema, ext);

    let selfKeys: EntryKey[] = [];
    if (query.excludeSelf ?? true) {
      const own = await ownEntriesQuery(sql, schema, ext);
      await this.loadTexts(sql, schema, ext, own);
      selfKeys = own.filter((k) => isSelfText(this.texts.get(keyOf(k)) ?? ''));
    }

    const searchPattern = query.search !== undefined ? likeContains(query.search) : undefined;
    const rows = await statementsQuery(sql, schema, ext, {
      databaseName: query.database,
      userName: query.user,
      queryId: query.queryId,
      searchPattern,
      minCalls: query.minCalls,
      toplevel: query.toplevel,
      selfKeys,
      orderBy: query.orderBy ?? 'totalExecTime',
      order: query.order ?? 'desc',
      limit: query.limit ?? 50,
      offset: query.offset ?? 0,
    });
    const page = rows.filter((r) => r.present);
    const hidden = (r: EntryKey) => r.queryid === null || (!info.pgMonitor && r.userid !== stats.currentUserId);
    if (this.env.QUERY_TEXT === 'none') {
      // Nothing to show: no text read.
    } else if (searchPattern === undefined) {
      await this.loadTexts(
        sql,
        schema,
        ext,
        page.filter((r) => !hidden(r)),
      );
    } else {
      for (const r of page) if (!hidden(r)) this.remember(r, r.query);
    }

    const warnings: WarningDto[] = [];
    if (!info.pgMonitor) {
      warnings.push(
        pgMonitorWarning(
          info,
          "the texts and queryids of other roles' statements are hidden (null); their counters are shown.",
        ),
      );
    }
    if (!stats.trackIoTiming) {
      warnings.push(
        warning(
          'IO_TIMING_OFF',
          'track_io_timing is off: blkReadTimeMs and blkWriteTimeMs stay 0 and ioTime ordering means nothing.',
          'ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();',
        ),
      );
    }
    const [first] = rows;
    const grand = first?.grandTotalExecTimeMs ?? null;
    return {
      meta: buildMeta(info, started, warnings),
      statsReset: stats.statsReset?.toISOString() ?? null,
      deallocations: stats.deallocations,
      totals: {
        statements: first?.totalStatements ?? 0,
        calls: first?.totalCalls ?? 0,
        totalExecTimeMs: first?.totalExecTimeMs_ ?? 0,
        totalPlanTimeMs: ext >= 108 ? (first?.totalPlanTimeMs_ ?? 0) : null,
      },
      queryText: this.env.QUERY_TEXT,
      statements: page.map((r) => this.toStatement(r, hidden(r), grand)),
    };
  }

  private toStatement(r: StatementRow, hidden: boolean, grandTotalMs: number | null): StatementDto {
    const blocks = r.sharedBlksHit + r.sharedBlksRead;
    return {
      queryId: hidden ? null : r.queryid,
      query: hidden ? null : presentQueryText(this.env.QUERY_TEXT, this.texts.get(keyOf(r)) ?? null),
      database: r.database,
      user: r.user,
      toplevel: r.toplevel,
      calls: r.calls,
      rows: r.rows,
      totalExecTimeMs: r.totalExecTimeMs,
      meanExecTimeMs: r.meanExecTimeMs,
      minExecTimeMs: r.minExecTimeMs,
      maxExecTimeMs: r.maxExecTimeMs,
      stddevExecTimeMs: r.stddevExecTimeMs,
      totalPlanTimeMs: r.totalPlanTimeMs,
      plans: r.plans,
      percentOfTotalTime: grandTotalMs ? (100 * r.totalExecTimeMs) / grandTotalMs : null,
      sharedBlksHit: r.sharedBlksHit,
      sharedBlksRead: r.sharedBlksRead,
      sharedBlksDirtied: r.sharedBlksDirtied,
      sharedBlksWritten: r.sharedBlksWritten,
      cacheHitRatio: blocks > 0 ? r.sharedBlksHit / blocks : null,
      localBlksHit: r.localBlksHit,
      localBlksRead: r.localBlksRead,
      tempBlksRead: r.tempBlksRead,
      tempBlksWritten: r.tempBlksWritten,
      blkReadTimeMs: r.blkReadTimeMs,
      blkWriteTimeMs: r.blkWriteTimeMs,
      walRecords: r.walRecords,
      walBytes: r.walBytes,
      jitFunctions: r.jitFunctions,
      jitTimeMs: r.jitTimeMs,
      statsSince: r.statsSince?.toISOString() ?? null,
    };
  }

  /** Fetches, in one call, the texts of the entries not cached yet. */
  private async loadTexts(sql: Tx, schema: string, ext: number, keys: EntryKey[]): Promise<void> {
    const missing = keys.filter((k) => k.queryid !== null && !this.texts.has(keyOf(k)));
    if (missing.length === 0) return;
    for (const row of await textsQuery(sql, schema, ext, missing)) this.remember(row, row.query);
  }

  private remember(key: EntryKey, text: string | null): void {
    if (this.texts.size >= TEXT_CACHE_MAX) {
      // Oldest first: Map iterates in insertion order.
      for (const k of [...this.texts.keys()].slice(0, TEXT_CACHE_MAX / 10)) this.texts.delete(k);
    }
    this.texts.set(keyOf(key), text);
  }
}
