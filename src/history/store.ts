import { Logger } from '@nestjs/common';
import postgres from 'postgres';
import { AppError } from '../common/errors';
import { maskCredentials } from '../common/pg-errors';
import { migrate } from './migrations';

export type StoreSql = postgres.Sql<Record<string, unknown>> | postgres.TransactionSql<Record<string, unknown>>;

/** The tables partitioned by day on `at` (migrations/0001_initial.sql). */
export const PARTITIONED = [
  'statement_deltas',
  'statement_hourly',
  'statement_daily',
  'database_deltas',
  'relation_deltas',
  'relation_sizes',
  'load_ticks',
  'load_buckets',
  'lock_chains',
] as const;

/** int8 and numeric as JS numbers (deltas fit in 2^53); 64-bit identifiers are cast to text in SQL. */
const NUMERIC_TYPES = {
  int8: { to: 20, from: [20], serialize: (x: number | string) => String(x), parse: (x: string) => Number(x) },
  numeric: { to: 1700, from: [1700], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
};

export class HistoryDisabledError extends AppError {
  constructor() {
    super(
      'HISTORY_DISABLED',
      409,
      'History is off',
      'This pgscope keeps no history (HISTORY=off): a window, from or to cannot be answered.',
      'Start pgscope with HISTORY=on (the default: an embedded store in HISTORY_DIR) or HISTORY_DATABASE_URL=postgres://…',
    );
  }
}

export class HistoryUnavailableError extends AppError {
  constructor(cause: string) {
    super(
      'HISTORY_UNAVAILABLE',
      503,
      'History store unavailable',
      `The history store does not answer (${cause}); answers without a window are not affected.`,
      'pgscope retries by itself; check the store (HISTORY_DATABASE_URL, or the disk of HISTORY_DIR).',
    );
  }
}

/** A write for a target whose lease this instance does not hold (any more): refused, nothing written. */
export class LeaseLostError extends Error {
  readonly code = 'LEASE_LOST';
  constructor(readonly target: string) {
    super(`the lease of target "${target}" is not held by this instance`);
  }
}

/** Checks, in a write's transaction, that this instance holds the target's lease (Leases; none: one instance). */
export type WriteFence = (tx: StoreSql, target: string) => Promise<void>;

export interface StoreStatus {
  kind: 'embedded' | 'external';
  version: string | null;
  schemaVersion: number | null;
  bytes: number | null;
  rows: Record<string, number>;
}

/**
 * An array parameter as a literal (the store's client fetches no types, so it cannot serialise arrays itself):
 * integers as they are, names double-quoted.
 */
export function arrayLiteral(values: readonly (number | string)[]): string {
  return `{${values.map((v) => (typeof v === 'number' ? String(v) : `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`)).join(',')}}`;
}

const day = (d: Date): string => d.toISOString().slice(0, 10);
const nextDay = (d: string): string => new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/**
 * The seam between pgscope and its history: PostgreSQL (embedded or external), reached through postgres.js.
 * Writes are single transactions (a snapshot is whole or absent); a failure of the store becomes
 * HISTORY_UNAVAILABLE, never an answer of the live endpoints.
 */
export class HistoryStore {
  private readonly logger = new Logger('HistoryStore');
  private readonly sql: postgres.Sql<Record<string, unknown>>;
  private readonly ids = new Map<string, number>();
  private readonly pendingIds = new Map<string, Promise<number>>();
  private readonly days = new Set<string>();
  private schemaVersion: number | null = null;
  /** The store answered the last time it was asked. */
  available = true;
  /** Set by Leases when this instance coordinates with others: every write for a target checks its lease. */
  fence?: WriteFence;

  constructor(
    readonly kind: 'embedded' | 'external',
    readonly url: string,
    private readonly retentionDays: number,
    /** This instance (INSTANCE_ID): recorded with each snapshot. */
    readonly instance = 'pgscope',
    /**
     * A write transaction idle this long is ended by the store: a holder frozen mid-write (a hung host) must not keep
     * its lease row locked, or no other instance could take the lease over.
     */
    idleInTransactionMs = 10_000,
  ) {
    this.sql = postgres(url, {
      max: 4,
      fetch_types: false,
      connect_timeout: 5,
      idle_timeout: 60,
      onnotice: () => undefined,
      // A window's sums group every entry in memory (a hash), not in a sort spilled to disk.
      connection: {
        application_name: 'pgscope-history',
        statement_timeout: 60_000,
        idle_in_transaction_session_timeout: idleInTransactionMs,
        work_mem: '64MB',
      },
      types: NUMERIC_TYPES,
    }) as unknown as postgres.Sql<Record<string, unknown>>;
  }

  /** Applies the migrations (refusing a store written by a newer pgscope). */
  async open(): Promise<void> {
    this.schemaVersion = await migrate(this.sql as unknown as postgres.Sql);
  }

  /**
   * One transaction on the store; for `target`, only while this instance holds its lease (checked first, in the
   * same transaction: LeaseLostError, nothing written).
   */
  async write<T>(fn: (sql: StoreSql) => Promise<T>, target?: string): Promise<T> {
    const fence = target === undefined ? undefined : this.fence;
    return this.guard(
      () =>
        this.sql.begin(async (tx) => {
          if (fence) await fence(tx as StoreSql, target!);
          return fn(tx as StoreSql);
        }) as Promise<T>,
    );
  }

  async read<T>(fn: (sql: StoreSql) => Promise<T>): Promise<T> {
    return this.guard(() => fn(this.sql));
  }

  /** The store's id of a target (created on first use; several instances agree on it). */
  async targetId(name: string): Promise<number> {
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    let pending = this.pendingIds.get(name);
    if (!pending) {
      pending = this.guard(async () => {
        // A concurrent insert of the same name (another instance, or this one before the pending map) is not in
        // this statement's snapshot: the conflict skips the insert and the select finds nothing. Asked again, the
        // new statement sees the committed row.
        for (let attempt = 0; attempt < 3; attempt++) {
          const [row] = await this.sql<{ id: number }[]>`
            with ins as (insert into targets (name) values (${name}) on conflict (name) do nothing returning id)
            select id from ins union all select id from targets where name = ${name} limit 1`;
          if (row) return row.id;
        }
        throw new Error(`target "${name}" has no id in the store`);
      }).finally(() => this.pendingIds.delete(name));
      this.pendingIds.set(name, pending);
    }
    const id = await pending;
    this.ids.set(name, id);
    return id;
  }

  /** The day partitions that rows of `at` (and the next day) go to, created once. */
  async ensurePartitions(at: Date): Promise<void> {
    for (const d of [day(at), nextDay(day(at))]) {
      if (this.days.has(d)) continue;
      await this.guard(async () => {
        for (const table of PARTITIONED) {
          const name = `${table}_p${d.replace(/-/g, '')}`;
          // Names from a fixed list and a date: nothing from a client.
          await this.sql
            .unsafe(
              `create table if not exists ${name} partition of ${table} for values from ('${d} 00:00:00+00') to ('${nextDay(d)} 00:00:00+00')`,
            )
            .catch((err: { code?: string }) => {
              // Another instance created it between the check and the create (42P07), or at the same moment: two
              // concurrent CREATE TABLE IF NOT EXISTS may collide on the catalog's unique index (23505).
              if (err.code !== '42P07' && err.code !== '23505') throw err;
            });
        }
      });
      this.days.add(d);
    }
  }

  /** Drops the day partitions older than the retention (whole tables: no row-by-row DELETE). */
  async applyRetention(now = new Date()): Promise<string[]> {
    const cutoff = day(new Date(now.getTime() - this.retentionDays * 86_400_000));
    return this.guard(async () => {
      const rows = await this.sql<{ name: string }[]>`
        select c.relname as name
          from pg_catalog.pg_inherits i
          join pg_catalog.pg_class c on c.oid = i.inhrelid
          join pg_catalog.pg_class p on p.oid = i.inhparent
         where p.relname = any(${arrayLiteral(PARTITIONED)}::text[]) and c.relname ~ '_p[0-9]{8}$'`;
      const dropped: string[] = [];
      for (const { name } of rows) {
        const d = name.slice(-8);
        const lower = `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
        // The partition holds [lower, lower + 1 day): all of it is older than the cutoff.
        if (nextDay(lower) <= cutoff) {
          await this.sql.unsafe(`drop table if exists ${name}`);
          dropped.push(name);
        }
      }
      for (const d of [...this.days]) if (d < cutoff) this.days.delete(d);
      await this.sql`delete from gaps where to_at < ${cutoff}::timestamptz`;
      await this.sql`delete from snapshots where at < ${cutoff}::timestamptz`;
      return dropped;
    });
  }

  async status(): Promise<StoreStatus> {
    return this.guard(async () => {
      const [row] = await this.sql<{ version: string; bytes: number }[]>`
        select current_setting('server_version') as version, pg_database_size(current_database()) as bytes`;
      const counts = await this.sql<{ table: string; n: number }[]>`
        select p.relname as "table", coalesce(sum(c.reltuples) filter (where c.reltuples > 0), 0)::int8 as n
          from pg_catalog.pg_class p
          left join pg_catalog.pg_inherits i on i.inhparent = p.oid
          left join pg_catalog.pg_class c on c.oid = coalesce(i.inhrelid, p.oid)
         where p.relname = any(${arrayLiteral([...PARTITIONED, 'snapshots', 'gaps', 'statement_texts', 'relations'])}::text[])
           and p.relnamespace = 'public'::regnamespace
         group by p.relname`;
      return {
        kind: this.kind,
        version: row.version,
        schemaVersion: this.schemaVersion,
        bytes: row.bytes,
        rows: Object.fromEntries(counts.map((c) => [c.table, c.n])),
      };
    });
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 }).catch(() => undefined);
  }

  /** Every store call: its failure is HISTORY_UNAVAILABLE (logged, masked), and the store is marked down. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const value = await fn();
      this.available = true;
      return value;
    } catch (err) {
      if (err instanceof AppError || err instanceof LeaseLostError) throw err;
      const code = (err as { code?: string }).code ?? 'no code';
      const message = maskCredentials(String((err as Error).message ?? err));
      if (isStoreDown(err)) {
        if (this.available) this.logger.warn(`the history store is unavailable: ${code} ${message}`);
        this.available = false;
        throw new HistoryUnavailableError(code);
      }
      this.logger.error(`history store query failed: ${code} ${message}`);
      throw err;
    }
  }
}

/** Connection failures, a full disk (53100), an out-of-memory or a read-only store: the store is down. */
function isStoreDown(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return (
    /^(08|57P|53)/.test(code) ||
    [
      '25006',
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      'CONNECT_TIMEOUT',
      'CONNECTION_CLOSED',
      'CONNECTION_ENDED',
      'CONNECTION_DESTROYED',
      'ENOTFOUND',
    ].includes(code)
  );
}
