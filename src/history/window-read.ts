import { MAX_INTERVAL_CADENCES, GapReason } from './deltas';
import { FamilyName } from './family';
import { arrayLiteral, HistoryStore, StoreSql } from './store';
import { Window, WindowMetaDto } from './window';

/** Windows longer than this read statement_hourly for their full hours (and the raw deltas at their edges). */
export const HOURLY_AFTER_MS = 2 * 86_400_000;

/** Which snapshots a windowed answer reads: one family of one target, of these databases (0: server-wide). */
export interface WindowScope {
  targetId: number;
  family: FamilyName;
  dbids: number[];
  /** The family's cadence: no snapshot for longer than MAX_INTERVAL_CADENCES of it is an open gap. */
  intervalMs: number;
}

export interface WindowCoverage {
  meta: WindowMetaDto;
  /** server_version and pg_stat_statements' version of the newest snapshot in the window (null: none). */
  serverVersion: string | null;
  extensionVersion: number | null;
  statsReset: Date | null;
  /** The newest snapshot of the window. */
  lastAt: Date | null;
}

/**
 * What the window's counters cover: the intervals of the snapshots that end in it (whole: the deltas of an interval
 * are not split, so rates over coveredSeconds are exact), the gaps that touch it, and evictions. A window that ends
 * after the last snapshot by more than MAX_INTERVAL_CADENCES cadences has an open collector_down gap: its
 * snapshots are missing now, not just later.
 */
export async function windowCoverage(
  store: HistoryStore,
  scope: WindowScope,
  window: Window,
  now = new Date(),
): Promise<WindowCoverage> {
  return store.read(async (sql) => {
    const [row] = await sql<
      {
        covered: number | null;
        evicted: number | null;
        lastAt: Date | null;
        version: string | null;
        ext: number | null;
        statsReset: Date | null;
      }[]
    >`
      select sum(extract(epoch from at - prev_at)) filter (where prev_at is not null)::float8 as covered,
             sum(evicted)::int8 as evicted, max(at) as "lastAt",
             (array_agg(server_version order by at desc))[1] as version,
             (array_agg(extension_version order by at desc))[1] as ext,
             (array_agg(stats_reset order by at desc))[1] as "statsReset"
        from snapshots
       where target_id = ${scope.targetId} and family = ${scope.family} and dbid = any(${arrayLiteral(scope.dbids)}::oid[])
         and at > ${window.from} and at <= ${window.to}`;
    const gaps = await gapsOf(sql, scope, window);
    const [latest] = await sql<{ at: Date | null }[]>`
      select max(at) as at from snapshots
       where target_id = ${scope.targetId} and family = ${scope.family} and dbid = any(${arrayLiteral(scope.dbids)}::oid[])`;
    const overdue = now.getTime() - MAX_INTERVAL_CADENCES * scope.intervalMs;
    if (latest.at && latest.at.getTime() < overdue && latest.at < window.to) {
      const from = latest.at > window.from ? latest.at : window.from;
      gaps.push({ from: from.toISOString(), to: window.to.toISOString(), reason: 'collector_down' });
    }
    return {
      meta: {
        from: window.from.toISOString(),
        to: window.to.toISOString(),
        coveredSeconds: Math.round((row.covered ?? 0) * 1000) / 1000,
        gaps,
        possiblyIncomplete: (row.evicted ?? 0) > 0,
        evictions: row.evicted ?? 0,
      },
      serverVersion: row.version,
      extensionVersion: row.ext,
      statsReset: row.statsReset,
      lastAt: row.lastAt,
    };
  });
}

async function gapsOf(sql: StoreSql, scope: WindowScope, window: Window) {
  const rows = await sql<{ from: Date; to: Date; reason: GapReason }[]>`
    select from_at as from, to_at as to, reason from gaps
     where target_id = ${scope.targetId} and family = ${scope.family} and dbid = any(${arrayLiteral(scope.dbids)}::oid[])
       and to_at > ${window.from} and from_at < ${window.to}
     order by from_at, to_at, reason
     limit 1000`;
  return rows.map((g) => ({ from: g.from.toISOString(), to: g.to.toISOString(), reason: g.reason }));
}

/**
 * The window's rows of a delta table as one relation: raw deltas, or for a long window the hourly rollups of its
 * full hours (those before the target's watermark) and the raw deltas around them. `at` in (from, to]: a delta is
 * stamped with its interval's end.
 */
export function windowRows(
  sql: StoreSql,
  raw: string,
  hourly: string | null,
  targetId: number,
  window: Window,
  hourlyThrough: Date | null,
) {
  const long = window.to.getTime() - window.from.getTime() > HOURLY_AFTER_MS;
  const table = (name: string) => sql.unsafe(name);
  if (!hourly || !long || !hourlyThrough) {
    return sql`(select * from ${table(raw)} where target_id = ${targetId} and at > ${window.from} and at <= ${window.to})`;
  }
  // Hours [h0, h1): h0 the first hour starting after `from`, h1 the last full hour before `to` and the watermark.
  const hour = 3_600_000;
  const h0 = new Date(Math.floor(window.from.getTime() / hour) * hour + hour);
  const h1 = new Date(Math.min(Math.floor(window.to.getTime() / hour) * hour, hourlyThrough.getTime()));
  if (h1 <= h0) {
    return sql`(select * from ${table(raw)} where target_id = ${targetId} and at > ${window.from} and at <= ${window.to})`;
  }
  return sql`(
    select * from ${table(raw)} where target_id = ${targetId} and at > ${window.from} and at < ${h0}
    union all
    select * from ${table(hourly)} where target_id = ${targetId} and at >= ${h0} and at < ${h1}
    union all
    select * from ${table(raw)} where target_id = ${targetId} and at >= ${h1} and at <= ${window.to})`;
}
