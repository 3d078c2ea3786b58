import { Logger } from '@nestjs/common';
import { DatabaseNotFoundError } from '../common/errors';
import { isConnectionError, PgLikeError } from '../common/pg-errors';
import { ServerInfo } from '../database/database.provider';
import { lockTimeoutFor, PostgresProvider } from '../database/postgres.provider';
import { ServerPool } from '../database/server-pool';
import { connectableDatabasesQuery } from './discovery.sql';
import { TargetConfig } from './targets.config';

export const TARGET_STATES = ['unknown', 'up', 'down', 'auth_failed'] as const;
export type TargetState = (typeof TARGET_STATES)[number];

/** SQLSTATEs of a refused login: the server is up, pgscope's credentials are not accepted. */
const AUTH_FAILED = new Set(['28P01', '28000']);
/** An unknown database named by a request triggers a discovery at most this often. */
const ON_DEMAND_DISCOVERY_MS = 5_000;

export interface TargetStatus {
  state: TargetState;
  /** The last failure: its code (a SQLSTATE or a socket error), when. */
  lastError: { code: string; at: Date } | null;
  /** The last time the server answered. */
  lastContactAt: Date | null;
}

/**
 * One watched server: its connection budget (ServerPool, at most poolMax connections over all its databases), a
 * DatabaseProvider per database it watches (the URL's, and the others on demand), the databases it found (with
 * `databases: all`), and what it knows of its health from every read and a periodic ping.
 */
export class Target {
  readonly pool: ServerPool;
  private readonly providers = new Map<string, PostgresProvider>();
  private readonly logger: Logger;
  private discovered?: string[];
  private askedAt = 0;
  private discovering?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly status: TargetStatus = { state: 'unknown', lastError: null, lastContactAt: null };

  constructor(
    readonly config: TargetConfig,
    private readonly checkMs: number,
  ) {
    this.logger = new Logger(`target ${config.name}`);
    this.pool = new ServerPool({
      url: config.url,
      max: config.poolMax,
      queryTimeoutMs: config.queryTimeoutMs,
      lockTimeoutMs: lockTimeoutFor(config.queryTimeoutMs),
      onClose: (database) => this.providers.get(database)?.invalidate(),
    });
  }

  get name(): string {
    return this.config.name;
  }

  get state(): TargetStatus {
    return this.status;
  }

  /** cpuCount of its configuration, or null. */
  get cpuCount(): number | null {
    return this.config.cpuCount;
  }

  /** The database of the URL: the default of a request that names none. */
  get defaultDatabase(): string {
    return this.config.database;
  }

  /** The provider of the URL's database: server-wide families read there. */
  get primary(): PostgresProvider {
    return this.providerFor(this.config.database);
  }

  /** The databases this target watches, as far as it knows now. */
  databases(): string[] {
    const { databases } = this.config;
    if (databases.kind === 'list') return databases.names;
    if (databases.kind === 'all') return this.discovered ?? [this.config.database];
    return [this.config.database];
  }

  /** The facts of the URL's database, if a read has learnt them (never a read of its own). */
  knownInfo(): ServerInfo | undefined {
    return this.providers.get(this.config.database)?.knownInfo();
  }

  /**
   * The provider of `database` (the URL's when absent). A name this target does not know is looked up again (at
   * most every few seconds) where it discovers its databases: one created a moment ago is found.
   */
  async database(name?: string): Promise<PostgresProvider> {
    if (name === undefined || name === this.config.database) return this.primary;
    if (!this.databases().includes(name) && this.config.databases.kind === 'all') {
      // Names are cheap to send: at most one look-up per few seconds on their account.
      if (Date.now() - this.askedAt >= ON_DEMAND_DISCOVERY_MS) {
        this.askedAt = Date.now();
        await this.discover().catch(() => undefined);
      }
    }
    if (!this.databases().includes(name)) throw new DatabaseNotFoundError(this.name, name);
    return this.providerFor(name);
  }

  /** Starts the periodic check (ping, discovery); the first one now. */
  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.checkMs);
    this.timer.unref();
  }

  /** Pings the URL's database (and so learns the status), and discovers the databases again where it should. */
  async check(): Promise<void> {
    try {
      await this.primary.ping();
      if (this.config.databases.kind === 'all') await this.discover();
    } catch {
      // The observer has recorded the failure; the next check tries again.
    }
  }

  /** Lets reads in flight finish, then closes every connection of this target. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.pool.close();
  }

  private discover(): Promise<void> {
    this.discovering ??= this.primary
      .read('discover-databases', ({ sql }) => connectableDatabasesQuery(sql))
      .then(async (rows) => {
        const names = rows.map((r) => r.name);
        const gone = (this.discovered ?? []).filter((d) => !names.includes(d) && d !== this.config.database);
        this.discovered = names.includes(this.config.database) ? names : [this.config.database, ...names];
        for (const database of gone) {
          this.providers.delete(database);
          await this.pool.drop(database);
          this.logger.log(`database "${database}" is gone: no longer watched`);
        }
      })
      .finally(() => {
        this.discovering = undefined;
      });
    return this.discovering;
  }

  private providerFor(database: string): PostgresProvider {
    let provider = this.providers.get(database);
    if (!provider) {
      provider = new PostgresProvider({
        pool: this.pool,
        database,
        queryTimeoutMs: this.config.queryTimeoutMs,
        label: `${this.name}/${database}`,
        observer: (err) => this.observe(err),
      });
      this.providers.set(database, provider);
    }
    return provider;
  }

  /** Every read tells the target how its server is: answering, unreachable, or refusing pgscope's login. */
  private observe(err: unknown | undefined): void {
    const code = (err as PgLikeError | undefined)?.code;
    if (err === undefined || (!isConnectionError(err) && !AUTH_FAILED.has(code ?? ''))) {
      // Answered (a query that failed on its own, a timeout or a privilege, still means the server is up).
      this.status.state = 'up';
      this.status.lastContactAt = new Date();
      return;
    }
    const state: TargetState = AUTH_FAILED.has(code ?? '') ? 'auth_failed' : 'down';
    if (this.status.state !== state) this.logger.warn(`is ${state} (${code ?? 'no code'})`);
    this.status.state = state;
    this.status.lastError = { code: code ?? 'UNKNOWN', at: new Date() };
  }
}
