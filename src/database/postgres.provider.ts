import { Logger } from '@nestjs/common';
import postgres from 'postgres';
import { AppError } from '../common/errors';
import { isConnectionError, isStaleConnectionError, mapPgError, PgLikeError } from '../common/pg-errors';
import { DatabaseProvider, ReadContext, ReadOptions, ServerInfo } from './database.provider';
import { majorOf } from './pg-version';
import { extensionQuery, serverInfoQuery } from './server-info.sql';

export interface PostgresProviderOptions {
  url: string;
  poolMax: number;
  queryTimeoutMs: number;
  applicationName?: string;
}

/** Server facts are refreshed at least this often, and at once after a connection closes. */
const SERVER_INFO_MAX_AGE_MS = 60_000;

/** int8 and numeric as JS numbers (monitoring counters fit in 2^53); 64-bit identifiers are cast to text in SQL. */
const NUMERIC_TYPES = {
  int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
  numeric: { to: 1700, from: [1700], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
};

/** DatabaseProvider over a small postgres.js pool. Every read is a READ ONLY transaction with local timeouts. */
export class PostgresProvider extends DatabaseProvider {
  readonly queryTimeoutMs: number;
  private readonly defaultLockTimeoutMs: number;
  private readonly sql: postgres.Sql<Record<string, unknown>>;
  private readonly logger = new Logger('PostgresProvider');
  private info?: { value: ServerInfo; at: number };
  private infoPending?: Promise<ServerInfo>;

  constructor(options: PostgresProviderOptions) {
    super();
    this.queryTimeoutMs = options.queryTimeoutMs;
    // Catalog reads never need to wait long for a lock; waiting is how monitoring hangs during migrations.
    this.defaultLockTimeoutMs = Math.min(1000, options.queryTimeoutMs);
    this.sql = postgres(options.url, {
      max: options.poolMax,
      fetch_types: false,
      connect_timeout: Math.max(1, Math.ceil(options.queryTimeoutMs / 1000)),
      idle_timeout: 60,
      onnotice: () => undefined,
      onclose: () => {
        // A closed connection may mean a restart or failover: learn the server again.
        this.info = undefined;
      },
      connection: {
        application_name: options.applicationName ?? 'pgscope',
        // Defence in depth: even a statement outside read() cannot write or run long.
        default_transaction_read_only: true,
        statement_timeout: options.queryTimeoutMs,
        lock_timeout: this.defaultLockTimeoutMs,
        idle_in_transaction_session_timeout: options.queryTimeoutMs * 2,
      },
      types: NUMERIC_TYPES,
    }) as unknown as postgres.Sql<Record<string, unknown>>;
  }

  async read<T>(name: string, fn: (ctx: ReadContext) => Promise<T>, options?: ReadOptions): Promise<T> {
    const info = await this.serverInfo();
    return this.transaction(
      name,
      (ctx) => {
        const extension: ReadContext['extension'] = async (ext) => {
          const known = info.extensions[ext];
          if (known) return known;
          const [found] = await extensionQuery(ctx.sql, ext);
          // Into the cached facts too: every later request sees it without asking again.
          if (found) info.extensions[ext] = found;
          return found;
        };
        return fn({ ...ctx, info, extension });
      },
      options,
    );
  }

  async serverInfo(): Promise<ServerInfo> {
    if (this.info && Date.now() - this.info.at < SERVER_INFO_MAX_AGE_MS) return this.info.value;
    this.infoPending ??= this.transaction('server-info', async ({ sql }) => {
      const [row] = await serverInfoQuery(sql);
      const value: ServerInfo = {
        version: row.version,
        versionNum: row.versionNum,
        major: majorOf(row.versionNum),
        currentDatabase: row.currentDatabase,
        currentUser: row.currentUser,
        pgStatStatementsPreloaded: row.pgStatStatementsPreloaded,
        pgMonitor: row.pgMonitor,
        superuser: row.superuser,
        extensions: Object.fromEntries(row.extensions.map((e) => [e.name, { version: e.version, schema: e.schema }])),
      };
      this.info = { value, at: Date.now() };
      return value;
    }).finally(() => {
      this.infoPending = undefined;
    });
    return this.infoPending;
  }

  async ping(): Promise<void> {
    await this.transaction('ping', ({ sql }) => sql`select /* pgscope */ 1`);
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }

  private async transaction<T>(
    name: string,
    fn: (ctx: Omit<ReadContext, 'info' | 'extension'>) => Promise<T>,
    options?: ReadOptions,
  ): Promise<T> {
    const statementTimeout = Math.round(options?.statementTimeoutMs ?? this.queryTimeoutMs);
    const lockTimeout = Math.round(options?.lockTimeoutMs ?? Math.min(this.defaultLockTimeoutMs, statementTimeout));
    for (let attempt = 1; ; attempt++) {
      let begun = false;
      try {
        return (await this.sql.begin('read only', async (tx) => {
          begun = true;
          // The connection's startup parameters already carry the default timeouts; only overrides cost a round trip.
          if (statementTimeout !== this.queryTimeoutMs || lockTimeout !== this.defaultLockTimeoutMs) {
            // Integers from configuration or code, never from a client.
            await tx
              .unsafe(
                `set /* pgscope */ local statement_timeout = ${statementTimeout}; set /* pgscope */ local lock_timeout = ${lockTimeout}`,
              )
              .simple();
          }
          const optional: ReadContext['optional'] = async (part, sqlstates, fallback) => {
            try {
              return (await tx.savepoint((sp) => part(sp))) as Awaited<ReturnType<typeof part>>;
            } catch (err) {
              const code = (err as PgLikeError).code;
              if (typeof code === 'string' && sqlstates.includes(code)) return fallback(code);
              throw err;
            }
          };
          return fn({ sql: tx, optional });
        })) as T;
      } catch (err) {
        // A pooled connection that died while idle fails at BEGIN, before any monitoring query ran: one more try on
        // a fresh connection is safe. A query killed mid-way (begun) is never run again: a DBA may have killed it
        // on purpose.
        if (!begun && attempt === 1 && isStaleConnectionError(err)) {
          this.info = undefined;
          this.logger.warn(`query "${name}": a pooled connection had closed (${(err as PgLikeError).code}); retrying`);
          continue;
        }
        throw this.translate(name, err, statementTimeout);
      }
    }
  }

  private translate(name: string, err: unknown, timeoutMs: number): unknown {
    if (err instanceof AppError) return err;
    const e = err as PgLikeError;
    const mapped = mapPgError(err, timeoutMs);
    if (isConnectionError(err)) this.info = undefined;
    const line = `query "${name}" failed: ${e.code ?? 'no code'} ${e.message ?? String(err)}`;
    if (mapped) this.logger.warn(line);
    else this.logger.error(line);
    return mapped ?? err;
  }
}
