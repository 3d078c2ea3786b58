import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { DatabaseProvider, Tx } from '../../database/database.provider';
import { Family, FamilySnapshot, insertRows, WriteContext } from '../../history/family';
import { lifetimeOf } from '../../history/lifetime.sql';
import { StoreSql } from '../../history/store';

/** pg_stat_database's counters a snapshot keeps, in this order (the store's columns of database_deltas). */
export const DATABASE_COLUMNS = [
  'xact_commit',
  'xact_rollback',
  'blks_read',
  'blks_hit',
  'tup_returned',
  'tup_fetched',
  'tup_inserted',
  'tup_updated',
  'tup_deleted',
  'temp_files',
  'temp_bytes',
  'deadlocks',
] as const;

interface DatabaseRow {
  dbid: number;
  datname: string;
  statsReset: Date | null;
  [column: string]: unknown;
}

function databaseCountersQuery(sql: Tx) {
  return sql<DatabaseRow[]>`
    select /* pgscope */ datid::int8 as dbid, datname, stats_reset as "statsReset",
           ${sql(DATABASE_COLUMNS as unknown as string[])}
      from pg_catalog.pg_stat_database
     where datname is not null`;
}

/**
 * pg_stat_database of every database of the server, in one read: each database's counters, and its stats_reset as
 * the lifetime of its own entry (a reset of one database is a gap of that database only).
 */
@Injectable()
export class DatabaseSnapshot implements Family<Map<string, string>> {
  readonly name = 'database' as const;
  readonly perDatabase = false;
  readonly reset = 'stats_reset' as const;

  constructor(@Inject(Env) private readonly env: Env) {}

  intervalMs(): number {
    return this.env.HISTORY_DATABASE_INTERVAL;
  }

  async read(db: DatabaseProvider): Promise<FamilySnapshot<Map<string, string>>> {
    return db.read('history-database', async (ctx) => {
      const rows = await databaseCountersQuery(ctx.sql);
      const { at, lifetime, serverVersion } = await lifetimeOf(ctx, null);
      return {
        at,
        serverVersion,
        dbid: 0,
        lifetime,
        samples: rows.map((r) => ({ key: String(r.dbid), counters: DATABASE_COLUMNS.map((c) => Number(r[c] ?? 0)) })),
        entryLifetimes: new Map(rows.map((r) => [String(r.dbid), r.statsReset?.toISOString() ?? null])),
        extra: new Map(rows.map((r) => [String(r.dbid), r.datname])),
      };
    });
  }

  async write(tx: StoreSql, ctx: WriteContext<Map<string, string>>): Promise<number> {
    const columns: Record<string, string> = { at: 'timestamptz', target_id: 'smallint', dbid: 'oid', datname: 'text' };
    for (const c of DATABASE_COLUMNS) columns[c] = 'bigint';
    await insertRows(
      tx,
      'database_deltas',
      columns,
      ctx.deltas.map((d) => {
        const row: Record<string, unknown> = {
          at: ctx.at,
          target_id: ctx.targetId,
          dbid: Number(d.key),
          datname: ctx.snapshot.extra.get(d.key),
        };
        DATABASE_COLUMNS.forEach((c, i) => (row[c] = d.values[i]));
        return row;
      }),
    );
    return ctx.deltas.length;
  }
}
