import { Logger } from '@nestjs/common';
import { AppError } from '../common/errors';
import {
  isConnectionError,
  isStaleConnectionError,
  mapPgError,
  maskCredentials,
  PgLikeError,
} from '../common/pg-errors';
import { DatabaseProvider, ReadContext, ReadOptions, ServerInfo } from './database.provider';
import { majorOf } from './pg-version';
import { ServerPool, Slot } from './server-pool';
import { extensionQuery, serverInfoQuery } from './server-info.sql';

export interface PostgresProviderOptions {
  /** The server's connections, shared with the providers of its other databases. */
  pool: ServerPool;
  /** The database this provider reads. */
  database: string;
  queryTimeoutMs: number;
  /** Names the provider in log lines (never a URL: it may hold a password). */
  label?: string;
  /** Told of every read's outcome: how a target knows it is up, down or refusing the login. */
  observer?: (error: unknown | undefined) => void;
}

/** Server facts are refreshed at least this often, and at once after a connection closes. */
const SERVER_INFO_MAX_AGE_MS = 60_000;

/**
 * DatabaseProvider over a server's connection budget (ServerPool). Every read is a READ ONLY transaction with local
 * timeouts, on a connection of this provider's database.
 */
export class PostgresProvider extends DatabaseProvider {
  readonly queryTimeoutMs: number;
  readonly database: string;
  private readonly defaultLockTimeoutMs: number;
  private readonly pool: ServerPool;
  private readonly logger = new Logger('PostgresProvider');
  private readonly label: string;
  private readonly owned: boolean;
  private info?: { value: ServerInfo; at: number };
  private infoPending?: Promise<ServerInfo>;

  constructor(private readonly options: PostgresProviderOptions & { owned?: boolean }) {
    super();
    this.queryTimeoutMs = options.queryTimeoutMs;
    this.database = options.database;
    this.pool = options.pool;
    this.owned = options.owned ?? false;
    this.label = options.label ?? options.database;
    // Catalog reads never need to wait long for a lock; waiting is how monitoring hangs during migrations.
    this.defaultLockTimeoutMs = lockTimeoutFor(options.queryTimeoutMs);
  }

  /** A provider with a connection budget of its own (one database of one server): tests, benchmarks, tools. */
  static forUrl(options: { url: string; poolMax: number; queryTimeoutMs: number }): PostgresProvider {
    const database = decodeURIComponent(new URL(options.url).pathname.replace(/^\//, '')) || 'postgres';
    const holder: { provider?: PostgresProvider } = {};
    const pool = new ServerPool({
      url: options.url,
      max: options.poolMax,
      queryTimeoutMs: options.queryTimeoutMs,
      lockTimeoutMs: lockTimeoutFor(options.queryTimeoutMs),
      onClose: () => holder.provider?.invalidate(),
    });
    holder.provider = new PostgresProvider({ pool, database, queryTimeoutMs: options.queryTimeoutMs, owned: true });
    return holder.provider;
  }

  /** The server facts if a read has learnt them (and they are not stale): never a read of its own. */
  knownInfo(): ServerInfo | undefined {
    return this.info && Date.now() - this.info.at < SERVER_INFO_MAX_AGE_MS ? this.info.value : undefined;
  }

  /** As the pool's connect_timeout (whole seconds of the query timeout, at least one), and a second to spare. */
  private connectTimeoutMs(): number {
    return Math.max(1, Math.ceil(this.queryTimeoutMs / 1000)) * 1000 + 1000;
  }

  /** Forgets the server facts: a connection closed (a restart or failover may have changed them). */
  invalidate(): void {
    this.info = undefined;
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

  /** Closes the connections if this provider owns its budget (a target closes its server's pool itself). */
  async close(): Promise<void> {
    if (this.owned) await this.pool.close();
  }

  private async transaction<T>(
    name: string,
    fn: (ctx: Omit<ReadContext, 'info' | 'extension'>) => Promise<T>,
    options?: ReadOptions,
  ): Promise<T> {
    const statementTimeout = Math.round(options?.statementTimeoutMs ?? this.queryTimeoutMs);
    const lockTimeout = Math.round(options?.lockTimeoutMs ?? Math.min(this.defaultLockTimeoutMs, statementTimeout));
    let slot: Slot;
    try {
      slot = await this.pool.acquire(this.database);
    } catch (err) {
      throw this.translate(name, err, statementTimeout);
    }
    try {
      return await this.attempts(name, slot, statementTimeout, lockTimeout, fn);
    } finally {
      this.pool.release(slot);
    }
  }

  private async attempts<T>(
    name: string,
    slot: Slot,
    statementTimeout: number,
    lockTimeout: number,
    fn: (ctx: Omit<ReadContext, 'info' | 'extension'>) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let begun = false;
      let timer: NodeJS.Timeout | undefined;
      try {
        const begin = slot.sql.begin('read only', async (tx) => {
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
        }) as Promise<T>;
        // postgres.js connects again for ever when the server closes the socket during the startup (a proxy or load
        // balancer in front of a server that is gone): a read that has not begun within the connect timeout ends.
        const connectMs = this.connectTimeoutMs();
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            if (begun) return;
            this.pool.discard(slot);
            reject(
              Object.assign(new Error(`no connection became ready within ${connectMs} ms`), {
                code: 'CONNECT_TIMEOUT',
              }),
            );
          }, connectMs);
          timer.unref();
        });
        begin.catch(() => undefined);
        const value = await Promise.race([begin, deadline]);
        this.options.observer?.(undefined);
        return value;
      } catch (err) {
        // A pooled connection that died while idle fails at BEGIN, before any monitoring query ran: one more try on
        // a fresh connection is safe. A query killed mid-way (begun) is never run again: a DBA may have killed it
        // on purpose.
        if (!begun && attempt === 1 && isStaleConnectionError(err)) {
          this.info = undefined;
          this.logger.warn(
            `${this.label}: query "${name}": a pooled connection had closed (${(err as PgLikeError).code}); retrying`,
          );
          continue;
        }
        this.options.observer?.(err);
        throw this.translate(name, err, statementTimeout);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  private translate(name: string, err: unknown, timeoutMs: number): unknown {
    if (err instanceof AppError) return err;
    const e = err as PgLikeError;
    const mapped = mapPgError(err, timeoutMs);
    if (isConnectionError(err)) this.info = undefined;
    const line = maskCredentials(
      `${this.label}: query "${name}" failed: ${e.code ?? 'no code'} ${e.message ?? String(err)}`,
    );
    if (mapped) this.logger.warn(line);
    else this.logger.error(line);
    return mapped ?? err;
  }
}

/** Catalog reads never need to wait long for a lock: at most a second, or the statement timeout if shorter. */
export function lockTimeoutFor(queryTimeoutMs: number): number {
  return Math.min(1000, queryTimeoutMs);
}
