import type postgres from 'postgres';

export interface ExtensionInfo {
  version: string;
  /** Schema the extension's objects live in (not always `public`). */
  schema: string;
}

/** What pgscope learns about the watched server once per connection generation. */
export interface ServerInfo {
  version: string;
  versionNum: number;
  major: number;
  currentDatabase: string;
  currentUser: string;
  extensions: Record<string, ExtensionInfo | undefined>;
  pgStatStatementsPreloaded: boolean;
  /** The role has pg_monitor's privileges (member, or superuser). */
  pgMonitor: boolean;
  superuser: boolean;
}

export interface ReadOptions {
  /** statement_timeout for this transaction; default QUERY_TIMEOUT_MS. */
  statementTimeoutMs?: number;
  /** lock_timeout for this transaction; default a short fraction of the statement timeout. */
  lockTimeoutMs?: number;
}

/** The postgres.js tag bound to one READ ONLY transaction. */
export type Tx = postgres.ISql<Record<string, unknown>>;

export interface ReadContext {
  sql: Tx;
  info: ServerInfo;
  /**
   * Runs `fn` behind a savepoint, with the savepoint's own tag (queries must go through it): when it fails with
   * one of `sqlstates` (a missing privilege, a lock timeout), the transaction goes on and `fallback(sqlstate)`
   * supplies the value instead.
   */
  optional<T>(fn: (sql: Tx) => Promise<T>, sqlstates: readonly string[], fallback: (sqlstate: string) => T): Promise<T>;
  /**
   * The extension as created in this database: from the server facts, or, where they say it is missing, looked up
   * again now (one indexed catalog read), so an extension created a moment ago is used at once.
   */
  extension(name: string): Promise<ExtensionInfo | undefined>;
}

/**
 * Every pgscope statement carries the marker comment `/* pgscope *\/` right after its first keyword
 * (`select /* pgscope *\/ …`), so that it can recognise and leave out its own work: PostgreSQL 18's
 * pg_stat_statements drops leading comments from the texts it stores, so a leading marker would be lost.
 */
export const SELF_MARKER = '/* pgscope */';

/**
 * The one seam between pgscope and a PostgreSQL server. An instance per watched server, no module state:
 * a second target is a second instance.
 */
export abstract class DatabaseProvider {
  abstract readonly queryTimeoutMs: number;

  /** Runs `fn` in a READ ONLY transaction with local statement and lock timeouts. `name` is for logs. */
  abstract read<T>(name: string, fn: (ctx: ReadContext) => Promise<T>, options?: ReadOptions): Promise<T>;

  /** Server facts, detected once and refreshed after a reconnect. */
  abstract serverInfo(): Promise<ServerInfo>;

  /** Resolves when the server answers a trivial query within the timeout; rejects otherwise. */
  abstract ping(): Promise<void>;

  abstract close(): Promise<void>;
}
