import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { DatabaseProvider, Tx } from '../../database/database.provider';
import { Family, FamilySnapshot, insertRows, WriteContext } from '../../history/family';
import { lifetimeOf } from '../../history/lifetime.sql';
import { StoreSql } from '../../history/store';
import { presentQueryText } from '../shared/query-text';
import { keyOf, StatementsService } from './statements.service';
import { counters, EntryKey, extensionVersionNumber, fn, keysJson, statementsInfoQuery } from './statements.sql';

/** The counters a statement snapshot keeps, in this order (the store's columns of statement_deltas). */
export const STATEMENT_COLUMNS = [
  ['calls', 'calls'],
  ['exec_ms', 'total_exec_time'],
  ['plan_ms', 'total_plan_time'],
  ['plans', 'plans'],
  ['rows', 'rows'],
  ['shared_hit', 'shared_blks_hit'],
  ['shared_read', 'shared_blks_read'],
  ['shared_dirtied', 'shared_blks_dirtied'],
  ['shared_written', 'shared_blks_written'],
  ['local_hit', 'local_blks_hit'],
  ['local_read', 'local_blks_read'],
  ['temp_read', 'temp_blks_read'],
  ['temp_written', 'temp_blks_written'],
  ['read_ms', 'blk_read_time'],
  ['write_ms', 'blk_write_time'],
  ['wal_records', 'wal_records'],
  ['wal_bytes', 'wal_bytes'],
  ['jit_functions', 'jit_functions'],
  ['jit_ms', 'jit_time'],
] as const;

interface Entry extends EntryKey {
  values: number[];
  since: string | null;
}

/** New entries: their names and text, stored once (the text as QUERY_TEXT allows, or none). */
interface StatementsExtra {
  provider: DatabaseProvider;
  entries: Map<string, EntryKey>;
  fresh: { key: EntryKey; datname: string | null; rolname: string | null; query: string | null }[];
}

/**
 * pg_stat_statements counters of every entry (pg_stat_statements(false): no text file read), pgscope's own left out
 * as in /statements; texts only for entries the store has not seen. Never a reset.
 */
@Injectable()
export class StatementsSnapshot implements Family<StatementsExtra> {
  readonly name = 'statements' as const;
  readonly perDatabase = false;
  readonly reset = 'statements_reset' as const;
  /** Entry keys whose text and names are in the store (as this process wrote them), per target. */
  private readonly stored = new Map<number, Set<string>>();

  constructor(
    private readonly statements: StatementsService,
    @Inject(Env) private readonly env: Env,
  ) {}

  intervalMs(): number {
    return this.env.HISTORY_STATEMENTS_INTERVAL;
  }

  async read(db: DatabaseProvider): Promise<FamilySnapshot<StatementsExtra> | { unavailable: string }> {
    return db.read('history-statements', async (ctx) => {
      const { sql, info } = ctx;
      const extension = await ctx.extension('pg_stat_statements');
      if (!info.pgStatStatementsPreloaded || !extension) return { unavailable: 'pg_stat_statements is not available' };
      const ext = extensionVersionNumber(extension.version);
      const [stats] = await statementsInfoQuery(sql, extension.schema, ext);
      const { at, lifetime, serverVersion } = await lifetimeOf(ctx, stats.statsReset?.toISOString() ?? null);
      // Counters first: every entry they have exists when pgscope's own are picked out (an entry of pgscope's
      // created in between would otherwise be counted once, then vanish).
      const rows = await countersQuery(sql, extension.schema, ext);
      const self = new Set(
        (await this.statements.selfKeys(this.statements.textsOf(db), sql, extension.schema, ext)).map(keyOf),
      );
      const entries: Entry[] = rows.filter((r) => r.queryid !== null && !self.has(keyOf(r)));
      const known = this.knownOf(db);
      const fresh = entries.filter((e) => !known?.has(keyOf(e)));
      const extra: StatementsExtra = {
        provider: db,
        entries: new Map(entries.map((e) => [keyOf(e), e])),
        fresh: [],
      };
      if (fresh.length > 0) {
        const texts =
          this.env.QUERY_TEXT === 'none'
            ? new Map<string, string | null>()
            : await this.statements.textsFor(db, sql, extension.schema, ext, fresh);
        const names = await namesQuery(sql, fresh);
        extra.fresh = fresh.map((e) => ({
          key: e,
          datname: names.databases.get(Number(e.dbid)) ?? null,
          rolname: names.roles.get(Number(e.userid)) ?? null,
          query: presentQueryText(this.env.QUERY_TEXT, texts.get(keyOf(e)) ?? null),
        }));
      }
      return {
        at,
        serverVersion,
        dbid: 0,
        lifetime,
        dealloc: stats.deallocations,
        extensionVersion: ext,
        samples: entries.map((e) => ({ key: keyOf(e), counters: e.values, since: ext >= 111 ? e.since : undefined })),
        extra,
      };
    });
  }

  async write(tx: StoreSql, ctx: WriteContext<StatementsExtra>): Promise<number> {
    const { extra } = ctx.snapshot;
    await insertRows(
      tx,
      'statement_texts',
      {
        target_id: 'smallint',
        dbid: 'oid',
        userid: 'oid',
        queryid: 'bigint',
        datname: 'text',
        rolname: 'text',
        query: 'text',
        first_seen: 'timestamptz',
      },
      extra.fresh.map((f) => ({
        target_id: ctx.targetId,
        dbid: f.key.dbid,
        userid: f.key.userid,
        queryid: f.key.queryid,
        datname: f.datname,
        rolname: f.rolname,
        query: f.query,
        first_seen: ctx.at,
      })),
      true,
    );
    const columns: Record<string, string> = { at: 'timestamptz', target_id: 'smallint', dbid: 'oid', userid: 'oid' };
    Object.assign(columns, { queryid: 'bigint', toplevel: 'boolean' });
    for (const [column, , type] of STATEMENT_COLUMNS.map(([c, s]) => [c, s, /_ms$/.test(c) ? 'float8' : 'bigint'])) {
      columns[column] = type;
    }
    await insertRows(
      tx,
      'statement_deltas',
      columns,
      ctx.deltas.map((d) => {
        const e = extra.entries.get(d.key) as EntryKey;
        const row: Record<string, unknown> = {
          at: ctx.at,
          target_id: ctx.targetId,
          dbid: e.dbid,
          userid: e.userid,
          queryid: e.queryid,
          toplevel: e.toplevel,
        };
        STATEMENT_COLUMNS.forEach(([column], i) => (row[column] = d.values[i]));
        return row;
      }),
    );
    await rollUpHours(tx, ctx.targetId, ctx.at);
    return ctx.deltas.length;
  }

  /** Marks the fresh entries stored, once their transaction committed. */
  committed(targetId: number, snapshot: FamilySnapshot<StatementsExtra>): void {
    let known = this.stored.get(targetId);
    if (!known) {
      known = new Set();
      this.stored.set(targetId, known);
      this.byProvider.set(snapshot.extra.provider, known);
    }
    for (const f of snapshot.extra.fresh) known.add(keyOf(f.key));
  }

  private readonly byProvider = new WeakMap<DatabaseProvider, Set<string>>();

  private knownOf(db: DatabaseProvider): Set<string> | undefined {
    return this.byProvider.get(db);
  }
}

const SUMS = STATEMENT_COLUMNS.map(([c]) => `sum(${c}) as ${c}`).join(', ');
const NAMES = STATEMENT_COLUMNS.map(([c]) => c).join(', ');

/**
 * Sums the full hours of statement_deltas not rolled up yet into statement_hourly (one row per entry and hour, at
 * the hour's start), and the full days of those into statement_daily, and moves the target's watermarks: in the
 * snapshot's transaction, so that a row is rolled up once, whatever the number of pgscope instances (the target's
 * row is locked).
 */
export async function rollUpHours(tx: StoreSql, targetId: number, at: Date): Promise<void> {
  const [row] = await tx<{ hourly: Date | null; daily: Date | null; hour: Date; day: Date }[]>`
    select hourly_through as hourly, daily_through as daily, date_trunc('hour', ${at}::timestamptz, 'UTC') as hour,
           date_trunc('day', ${at}::timestamptz, 'UTC') as day
      from targets where id = ${targetId} for update`;
  const roll = (into: string, from: string, unit: 'hour' | 'day', lo: Date, hi: Date) =>
    // Names from this module, never from a client.
    tx.unsafe(
      `insert into ${into} (at, target_id, dbid, userid, queryid, toplevel, ${NAMES})
       select date_trunc('${unit}', at, 'UTC'), target_id, dbid, userid, queryid, toplevel, ${SUMS}
         from ${from}
        where target_id = $1 and at >= $2 and at < $3
        group by 1, 2, 3, 4, 5, 6`,
      [targetId, lo, hi] as never[],
    );
  if (row.hourly === null || row.hourly < row.hour) {
    if (row.hourly !== null) await roll('statement_hourly', 'statement_deltas', 'hour', row.hourly, row.hour);
    await tx`update targets set hourly_through = ${row.hour} where id = ${targetId}`;
  }
  // Days whose every hour is rolled up.
  if (row.daily === null || row.daily < row.day) {
    if (row.daily !== null) await roll('statement_daily', 'statement_hourly', 'day', row.daily, row.day);
    await tx`update targets set daily_through = ${row.day} where id = ${targetId}`;
  }
}

/** Every entry's counters under the snapshot's column names, in STATEMENT_COLUMNS order. */
async function countersQuery(sql: Tx, schema: string, ext: number): Promise<Entry[]> {
  const rows = await sql<Record<string, unknown>[]>`
    select /* pgscope */ ${counters(sql, ext)} from ${fn(sql, schema, false)} s`;
  return rows.map((r) => ({
    userid: Number(r.userid),
    dbid: Number(r.dbid),
    queryid: r.queryid as string,
    toplevel: r.toplevel as boolean | null,
    values: STATEMENT_COLUMNS.map(([, source]) => Number(r[source] ?? 0)),
    since: r.stats_since ? (r.stats_since as Date).toISOString() : null,
  }));
}

/** Database and role names of these entries. */
async function namesQuery(sql: Tx, keys: EntryKey[]) {
  const rows = await sql<{ kind: string; oid: number; name: string }[]>`
    select /* pgscope */ 'd' as kind, d.oid::int8 as oid, d.datname::text as name from pg_catalog.pg_database d
     where d.oid in (select distinct dbid from ${keysJson(sql, keys)} k)
    union all
    select 'r', r.oid::int8, r.rolname::text from pg_catalog.pg_roles r
     where r.oid in (select distinct userid from ${keysJson(sql, keys)} k)`;
  return {
    databases: new Map(rows.filter((r) => r.kind === 'd').map((r) => [Number(r.oid), r.name])),
    roles: new Map(rows.filter((r) => r.kind === 'r').map((r) => [Number(r.oid), r.name])),
  };
}
