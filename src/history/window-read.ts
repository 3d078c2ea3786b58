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

/** A table of sums over aligned buckets of a delta table (statement_hourly, statement_daily), and how far it goes. */
export interface Rollup {
  table: string;
  unitMs: number;
  /** Every bucket before this one is rolled up; null: none yet. */
  through: Date | null;
}

/** A span of `at`, each end open or closed. */
export interface Span {
  lo: number;
  loIn: boolean;
  hi: number;
  hiIn: boolean;
}

/**
 * Which table answers which part of a span: the coarsest rollup for the buckets that lie whole inside it (and before
 * its watermark), the finer ones and then the raw deltas for what is left at the edges. `level` indexes `rollups`
 * (coarse to fine); -1 is the raw table. Pure: tested alone.
 */
export function planSpan(span: Span, rollups: Pick<Rollup, 'unitMs' | 'through'>[]): (Span & { level: number })[] {
  const plan = (s: Span, from: number): (Span & { level: number })[] => {
    if (s.lo > s.hi || (s.lo === s.hi && !(s.loIn && s.hiIn))) return [];
    for (let i = from; i < rollups.length; i++) {
      const { unitMs, through } = rollups[i];
      if (!through) continue;
      // The first bucket [h0, h0 + unit) wholly inside, and the end of the last one.
      let h0 = Math.ceil(s.lo / unitMs) * unitMs;
      if (h0 === s.lo && !s.loIn) h0 += unitMs;
      const h1 = Math.min(Math.floor(s.hi / unitMs) * unitMs, through.getTime());
      if (h1 > h0) {
        return [
          ...plan({ lo: s.lo, loIn: s.loIn, hi: h0, hiIn: false }, i + 1),
          { level: i, lo: h0, loIn: true, hi: h1, hiIn: false },
          ...plan({ lo: h1, loIn: true, hi: s.hi, hiIn: s.hiIn }, i + 1),
        ];
      }
    }
    return [{ level: -1, ...s }];
  };
  return plan(span, 0);
}

/**
 * The window's rows of a delta table as one relation: the raw deltas with `at` in (from, to] (a delta is stamped
 * with its interval's end); for a window longer than HOURLY_AFTER_MS, the rollups' buckets that lie whole in it
 * (daily, then hourly: exact sums, far fewer rows) and the raw deltas at its edges.
 */
export function windowRows(sql: StoreSql, raw: string, targetId: number, window: Window, rollups: Rollup[] = []) {
  const long = window.to.getTime() - window.from.getTime() > HOURLY_AFTER_MS;
  const pieces = planSpan(
    { lo: window.from.getTime(), loIn: false, hi: window.to.getTime(), hiIn: true },
    long ? rollups : [],
  );
  // Table names from the families' code, never from a client.
  const select = (p: Span & { level: number }) => sql`
    select * from ${sql.unsafe(p.level < 0 ? raw : rollups[p.level].table)}
     where target_id = ${targetId}
       and at ${p.loIn ? sql`>=` : sql`>`} ${new Date(p.lo)} and at ${p.hiIn ? sql`<=` : sql`<`} ${new Date(p.hi)}`;
  const [first, ...rest] = pieces.length > 0 ? pieces : [{ level: -1, lo: 0, loIn: false, hi: 0, hiIn: false }];
  return sql`(${rest.reduce((acc, p) => sql`${acc} union all ${select(p)}`, select(first))})`;
}

/** statement_daily and statement_hourly of a target, coarse to fine, with their watermarks. */
export async function statementRollups(sql: StoreSql, targetId: number): Promise<Rollup[]> {
  const [t] = await sql<{ hourly: Date | null; daily: Date | null }[]>`
    select hourly_through as hourly, daily_through as daily from targets where id = ${targetId}`;
  return [
    { table: 'statement_daily', unitMs: 86_400_000, through: t?.daily ?? null },
    { table: 'statement_hourly', unitMs: 3_600_000, through: t?.hourly ?? null },
  ];
}
