import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { DatabaseProvider, Tx } from '../../database/database.provider';
import { Family, FamilySnapshot, insertRows, WriteContext } from '../../history/family';
import { lifetimeOf } from '../../history/lifetime.sql';
import { arrayLiteral, StoreSql } from '../../history/store';
import { userNamespace } from '../shared/relations.sql';

/** The counters of tables and indexes a snapshot keeps, in this order (the store's columns of relation_deltas). */
export const RELATION_COLUMNS = [
  'seq_scan',
  'seq_tup_read',
  'idx_scan',
  'idx_tup_read',
  'idx_tup_fetch',
  'n_tup_ins',
  'n_tup_upd',
  'n_tup_del',
  'heap_hit',
  'heap_read',
  'idx_hit',
  'idx_read',
  'toast_hit',
  'toast_read',
  'toast_idx_hit',
  'toast_idx_read',
] as const;

interface RelationRow {
  relid: number;
  tableRelid: number;
  toast: boolean;
  kind: string;
  schema: string;
  name: string;
  [column: string]: unknown;
}

export interface RelationName {
  kind: string;
  /** An index's table (0 for a table). */
  tableRelid: number;
  /** A table with a TOAST table. */
  toast: boolean;
  schema: string;
  name: string;
}

export interface RelationNames {
  names: Map<string, RelationName>;
}

/**
 * The counters of every user table (as pg_stat_user_tables and pg_statio_user_tables have them: its indexes summed)
 * and index (as pg_stat_user_indexes and pg_statio_user_indexes), read with the pg_stat_get_* functions in one pass.
 */
function relationCountersQuery(sql: Tx) {
  const fetched = (oid: ReturnType<Tx>) => sql`pg_catalog.pg_stat_get_blocks_fetched(${oid})`;
  const hit = (oid: ReturnType<Tx>) => sql`pg_catalog.pg_stat_get_blocks_hit(${oid})`;
  return sql<RelationRow[]>`
    with /* pgscope */ idx as materialized (
      select i.indrelid, i.indexrelid, pg_catalog.pg_stat_get_numscans(i.indexrelid) as scans,
             pg_catalog.pg_stat_get_tuples_returned(i.indexrelid) as tup_read,
             pg_catalog.pg_stat_get_tuples_fetched(i.indexrelid) as tup_fetch,
             ${hit(sql`i.indexrelid`)} as hit, ${fetched(sql`i.indexrelid`)} - ${hit(sql`i.indexrelid`)} as read
        from pg_catalog.pg_index i
    ),
    sums as (
      select indrelid, sum(scans)::int8 as scans, sum(tup_fetch)::int8 as tup_fetch, sum(hit)::int8 as hit,
             sum(read)::int8 as read
        from idx group by indrelid
    )
    select c.oid::int8 as relid, 0::int8 as "tableRelid", c.reltoastrelid <> 0 as toast, c.relkind::text as kind,
           n.nspname as schema, c.relname as name,
           pg_catalog.pg_stat_get_numscans(c.oid) as seq_scan,
           pg_catalog.pg_stat_get_tuples_returned(c.oid) as seq_tup_read,
           coalesce(s.scans, 0) as idx_scan, 0::int8 as idx_tup_read,
           coalesce(s.tup_fetch, 0) + pg_catalog.pg_stat_get_tuples_fetched(c.oid) as idx_tup_fetch,
           pg_catalog.pg_stat_get_tuples_inserted(c.oid) as n_tup_ins,
           pg_catalog.pg_stat_get_tuples_updated(c.oid) as n_tup_upd,
           pg_catalog.pg_stat_get_tuples_deleted(c.oid) as n_tup_del,
           ${hit(sql`c.oid`)} as heap_hit, ${fetched(sql`c.oid`)} - ${hit(sql`c.oid`)} as heap_read,
           coalesce(s.hit, 0) as idx_hit, coalesce(s.read, 0) as idx_read,
           case when c.reltoastrelid <> 0 then ${hit(sql`c.reltoastrelid`)} else 0 end as toast_hit,
           case when c.reltoastrelid <> 0 then ${fetched(sql`c.reltoastrelid`)} - ${hit(sql`c.reltoastrelid`)} else 0 end
             as toast_read,
           coalesce(ts.hit, 0) as toast_idx_hit, coalesce(ts.read, 0) as toast_idx_read
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      left join sums s on s.indrelid = c.oid
      left join sums ts on c.reltoastrelid <> 0 and ts.indrelid = c.reltoastrelid
     where c.relkind in ('r', 'm') and c.relpersistence <> 't' and ${userNamespace(sql)}
    union all
    select c.oid::int8, x.indrelid::int8, false, c.relkind::text, n.nspname, c.relname, 0, 0, x.scans, x.tup_read,
           x.tup_fetch, 0, 0, 0, 0, 0, x.hit, x.read, 0, 0, 0, 0
      from idx x
      join pg_catalog.pg_class c on c.oid = x.indexrelid and c.relkind = 'i'
      join pg_catalog.pg_class t on t.oid = x.indrelid and t.relkind in ('r', 'm') and t.relpersistence <> 't'
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where ${userNamespace(sql)}`;
}

const nameKey = (n: RelationName) => `${n.schema}.${n.name}\u0000${n.tableRelid}\u0000${n.toast}`;

/**
 * Writes the names of relations the store has not seen, or not under this name (renames, new relations), and marks
 * those gone that the store knows and the snapshot no longer has (dropped: their history stays readable by name).
 */
export async function writeRelationNames(
  tx: StoreSql,
  targetId: number,
  dbid: number,
  at: Date,
  names: Map<string, RelationName>,
  known: Map<string, string> | undefined,
): Promise<void> {
  const changed = [...names].filter(([relid, n]) => known?.get(relid) !== nameKey(n));
  if (changed.length > 0) {
    await tx`
      insert into relations (target_id, dbid, relid, kind, table_relid, toast, schema, name, last_seen, gone_at)
      select ${targetId}, ${dbid}, x.relid, x.kind, x."tableRelid", x.toast, x.schema, x.name, ${at}, null
        from jsonb_to_recordset(${tx.json(changed.map(([relid, n]) => ({ relid: Number(relid), ...n })) as never)})
             as x(relid oid, kind "char", "tableRelid" oid, toast boolean, schema text, name text)
      on conflict (target_id, dbid, relid) do update
        set kind = excluded.kind, table_relid = excluded.table_relid, toast = excluded.toast,
            schema = excluded.schema, name = excluded.name, last_seen = excluded.last_seen, gone_at = null`;
  }
  // Without what this process wrote (a restart), the store's list is compared instead.
  const gone = known ? [...known.keys()].filter((relid) => !names.has(relid)).map(Number) : undefined;
  if (gone === undefined) {
    await tx`
      update relations set gone_at = ${at}
       where target_id = ${targetId} and dbid = ${dbid} and gone_at is null
         and relid <> all(${arrayLiteral([...names.keys()].map(Number))}::oid[])`;
  } else if (gone.length > 0) {
    await tx`
      update relations set gone_at = ${at}
       where target_id = ${targetId} and dbid = ${dbid} and gone_at is null and relid = any(${arrayLiteral(gone)}::oid[])`;
  }
}

/** Table and index counters of one database, every HISTORY_RELATIONS_INTERVAL. */
@Injectable()
export class RelationsSnapshot implements Family<RelationNames> {
  readonly name = 'relations' as const;
  readonly perDatabase = true;
  readonly reset = 'stats_reset' as const;

  constructor(@Inject(Env) private readonly env: Env) {}

  intervalMs(): number {
    return this.env.HISTORY_RELATIONS_INTERVAL;
  }

  async read(db: DatabaseProvider): Promise<FamilySnapshot<RelationNames>> {
    return db.read('history-relations', async (ctx) => {
      const rows = await relationCountersQuery(ctx.sql);
      const [reset] = await ctx.sql<{ statsReset: Date | null; dbid: number }[]>`
        select /* pgscope */ stats_reset as "statsReset", datid::int8 as dbid
          from pg_catalog.pg_stat_database where datname = current_database()`;
      const { at, lifetime, serverVersion } = await lifetimeOf(ctx, reset?.statsReset?.toISOString() ?? null);
      return {
        at,
        serverVersion,
        dbid: Number(reset.dbid),
        lifetime,
        samples: rows.map((r) => ({
          key: String(r.relid),
          counters: RELATION_COLUMNS.map((c) => Number(r[c] ?? 0)),
        })),
        extra: {
          names: new Map(
            rows.map((r) => [
              String(r.relid),
              { kind: r.kind, tableRelid: Number(r.tableRelid), toast: r.toast, schema: r.schema, name: r.name },
            ]),
          ),
        },
      };
    });
  }

  async write(tx: StoreSql, ctx: WriteContext<RelationNames>): Promise<number> {
    await writeRelationNames(
      tx,
      ctx.targetId,
      ctx.dbid,
      ctx.at,
      ctx.snapshot.extra.names,
      this.stored.get(`${ctx.targetId}:${ctx.dbid}`),
    );
    const columns: Record<string, string> = { at: 'timestamptz', target_id: 'smallint', dbid: 'oid', relid: 'oid' };
    for (const c of RELATION_COLUMNS) columns[c] = 'bigint';
    await insertRows(
      tx,
      'relation_deltas',
      columns,
      ctx.deltas.map((d) => {
        const row: Record<string, unknown> = {
          at: ctx.at,
          target_id: ctx.targetId,
          dbid: ctx.dbid,
          relid: Number(d.key),
        };
        RELATION_COLUMNS.forEach((c, i) => (row[c] = d.values[i]));
        return row;
      }),
    );
    return ctx.deltas.length;
  }

  committed(targetId: number, snapshot: FamilySnapshot<RelationNames>): void {
    this.stored.set(
      `${targetId}:${snapshot.dbid}`,
      new Map([...snapshot.extra.names].map(([relid, n]) => [relid, nameKey(n)])),
    );
  }

  /** The names the store has, per target and database (as this process wrote them). */
  private readonly stored = new Map<string, Map<string, string>>();
}
