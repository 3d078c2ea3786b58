import { Inject, Injectable } from '@nestjs/common';
import { InvalidParameterError } from '../../common/errors';
import { buildMeta, pgMonitorWarning, warning, WarningDto } from '../shared/meta.dto';
import { likeContains, withDefaults } from '../../http/query';
import { presentQueryText } from '../shared/query-text';
import { Env } from '../../config/env';
import { DatabaseProvider, ReadContext, SELF_MARKER, Tx } from '../../database/database.provider';
import { StatementDto, STATEMENTS_DEFAULTS, StatementsQueryDto, StatementsResponseDto } from './statements.dto';
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
/** Texts by entry key. */
export type Texts = Map<string, string | null>;
export const keyOf = (k: EntryKey): string => `${k.userid}:${k.dbid}:${k.queryid}:${k.toplevel}`;

@Injectable()
export class StatementsService {
  /**
   * Texts by entry. An entry's text never changes while it exists, and reading texts makes PostgreSQL load its
   * whole query-text file, so a text is fetched once and a polled top-N costs no text reads at all.
   */
  private readonly textsByDatabase = new WeakMap<DatabaseProvider, Texts>();

  /** The texts of one watched server's entries (keyed by its provider: entries of two servers never mix). */
  textsOf(db: DatabaseProvider): Texts {
    let texts = this.textsByDatabase.get(db);
    if (!texts) {
      texts = new Map();
      this.textsByDatabase.set(db, texts);
    }
    return texts;
  }

  constructor(@Inject(Env) private readonly env: Env) {}

  async listStatements(db: DatabaseProvider, query: StatementsQueryDto): Promise<StatementsResponseDto> {
    const started = performance.now();
    if (query.search !== undefined && this.env.QUERY_TEXT !== 'full') {
      throw InvalidParameterError.of(
        'search',
        `is disabled because QUERY_TEXT=${this.env.QUERY_TEXT}: its matches would reveal the texts it hides`,
      );
    }
    try {
      const texts = this.textsOf(db);
      return await db.read('statements', (ctx) => this.collect(ctx, texts, query, started));
    } catch (err) {
      // The extension's objects exist but the library is not loaded (e.g. after a restart without the preload).
      if ((err as { code?: string }).code === '55000' && /shared_preload_libraries/.test(String(err))) {
        throw new PgStatStatementsUnavailableError('not_preloaded', '');
      }
      throw err;
    }
  }

  private async collect(
    ctx: ReadContext,
    texts: Texts,
    given: StatementsQueryDto,
    started: number,
  ): Promise<StatementsResponseDto> {
    const { sql, info } = ctx;
    const query = withDefaults(STATEMENTS_DEFAULTS, given);
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

    const selfKeys = query.excludeSelf ? await this.selfKeys(texts, sql, schema, ext) : [];

    const searchPattern = query.search !== undefined ? likeContains(query.search) : undefined;
    const rows = await statementsQuery(sql, schema, ext, {
      databaseName: query.database,
      userName: query.user,
      queryId: query.queryId,
      searchPattern,
      minCalls: query.minCalls,
      toplevel: query.toplevel,
      selfKeys,
      orderBy: query.orderBy,
      order: query.order,
      limit: query.limit,
      offset: query.offset,
    });
    const page = rows.filter((r) => r.present);
    const hidden = (r: EntryKey) => r.queryid === null || (!info.pgMonitor && r.userid !== stats.currentUserId);
    if (this.env.QUERY_TEXT === 'none') {
      // Nothing to show: no text read.
    } else if (searchPattern === undefined) {
      await this.loadTexts(
        texts,
        sql,
        schema,
        ext,
        page.filter((r) => !hidden(r)),
      );
    } else {
      for (const r of page) if (!hidden(r)) remember(texts, r, r.query);
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
      statements: page.map((r) => this.toStatement(r, hidden(r), grand, texts)),
    };
  }

  private toStatement(r: StatementRow, hidden: boolean, grandTotalMs: number | null, texts: Texts): StatementDto {
    // The SQL names its columns as the DTO does; the keys, the page's totals and the text are not fields.
    const {
      present: _p,
      userid: _u,
      dbid: _d,
      queryid,
      query: _q,
      grandTotalExecTimeMs: _g,
      totalStatements: _s,
      totalCalls: _c,
      totalExecTimeMs_: _e,
      totalPlanTimeMs_: _t,
      statsSince,
      ...counters
    } = r;
    const blocks = r.sharedBlksHit + r.sharedBlksRead;
    return {
      queryId: hidden ? null : queryid,
      query: hidden ? null : presentQueryText(this.env.QUERY_TEXT, texts.get(keyOf(r)) ?? null),
      ...counters,
      percentOfTotalTime: grandTotalMs ? (100 * r.totalExecTimeMs) / grandTotalMs : null,
      cacheHitRatio: blocks > 0 ? r.sharedBlksHit / blocks : null,
      statsSince: statsSince?.toISOString() ?? null,
      callsPerSecond: null,
      execTimeMsPerSecond: null,
    };
  }

  /** pgscope's own entries (marked /* pgscope *\/, and its transaction control): its texts are read once each. */
  async selfKeys(texts: Texts, sql: Tx, schema: string, ext: number): Promise<EntryKey[]> {
    const own = await ownEntriesQuery(sql, schema, ext);
    await this.loadTexts(texts, sql, schema, ext, own);
    return own.filter((k) => isSelfText(texts.get(keyOf(k)) ?? ''));
  }

  /** The texts of these entries, from the cache of this server's texts, reading only the ones not cached yet. */
  async textsFor(db: DatabaseProvider, sql: Tx, schema: string, ext: number, keys: EntryKey[]): Promise<Texts> {
    const texts = this.textsOf(db);
    await this.loadTexts(texts, sql, schema, ext, keys);
    return texts;
  }

  /** Fetches, in one call, the texts of the entries not cached yet. */
  private async loadTexts(texts: Texts, sql: Tx, schema: string, ext: number, keys: EntryKey[]): Promise<void> {
    const missing = keys.filter((k) => k.queryid !== null && !texts.has(keyOf(k)));
    if (missing.length === 0) return;
    for (const row of await textsQuery(sql, schema, ext, missing)) remember(texts, row, row.query);
  }
}

function remember(texts: Texts, key: EntryKey, text: string | null): void {
  if (texts.size >= TEXT_CACHE_MAX) {
    // Oldest first: Map iterates in insertion order.
    for (const k of [...texts.keys()].slice(0, TEXT_CACHE_MAX / 10)) texts.delete(k);
  }
  texts.set(keyOf(key), text);
}
