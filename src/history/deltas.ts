/**
 * Deltas between two snapshots of cumulative counters, computed only across one lifetime of the counters. Pure
 * functions: the collector hands them what it read, and they say what to store and which gap to name.
 */

export const GAP_REASONS = [
  'server_restart',
  'stats_reset',
  'statements_reset',
  'entry_evicted',
  'failover',
  'collector_down',
  'store_down',
] as const;
export type GapReason = (typeof GAP_REASONS)[number];

/** What identifies one lifetime of a server's counters. */
export interface Lifetime {
  /** pg_postmaster_start_time(), ISO 8601: a restart starts every counter again. */
  postmasterStart: string;
  /** pg_control_system().system_identifier and the timeline: another server, or a promotion. */
  systemId: string | null;
  timeline: number | null;
  /** The family's own reset time (pg_stat_statements_info, pg_stat_database.stats_reset); null if never reset. */
  statsReset: string | null;
}

/** Why no delta can be taken from `prev` to `cur`; undefined when one lifetime covers the interval. */
export function lifetimeBreak(
  prev: Lifetime,
  cur: Lifetime,
  reset: 'stats_reset' | 'statements_reset',
): GapReason | undefined {
  if (prev.systemId !== cur.systemId || prev.timeline !== cur.timeline) return 'failover';
  if (prev.postmasterStart !== cur.postmasterStart) return 'server_restart';
  if (prev.statsReset !== cur.statsReset) return reset;
  return undefined;
}

/** One entry's cumulative counters, and (PostgreSQL 17+ pg_stat_statements) when the entry started counting. */
export interface Sample {
  key: string;
  counters: number[];
  since?: string | null;
}

export interface EntryDelta {
  key: string;
  /** The interval's counts, null where a counter did not move. */
  values: (number | null)[];
  /** The entry is new (or started again) in the interval: its whole count is the interval's. */
  fresh: boolean;
}

export interface DeltaSet {
  deltas: EntryDelta[];
  /** Entries found started again (stats_since moved, or a counter went down): their earlier count is lost. */
  recreated: number;
  /** Entries of the previous snapshot absent from this one (evicted, reset or dropped). */
  vanished: number;
}

/**
 * The interval's count of every entry that moved. An entry absent before is new: all its count is the interval's
 * (pg_stat_statements creates an entry at its first execution). One whose stats_since moved, or a counter of which
 * went down, was evicted or reset and created again in the interval: its count since then is the interval's, and
 * it is counted in `recreated` (what it had before is lost). An entry that did not move costs no row.
 */
export function entryDeltas(prev: Map<string, Sample>, cur: Sample[]): DeltaSet {
  const deltas: EntryDelta[] = [];
  let recreated = 0;
  for (const s of cur) {
    const p = prev.get(s.key);
    let values: number[];
    let fresh = false;
    if (!p) {
      values = s.counters;
      fresh = true;
    } else if ((s.since !== undefined && s.since !== p.since) || s.counters.some((c, i) => c < (p.counters[i] ?? 0))) {
      values = s.counters;
      fresh = true;
      recreated++;
    } else {
      values = s.counters.map((c, i) => c - (p.counters[i] ?? 0));
    }
    if (values.some((v) => v !== 0))
      deltas.push({ key: s.key, values: values.map((v) => (v === 0 ? null : v)), fresh });
  }
  const present = new Set(cur.map((s) => s.key));
  let vanished = 0;
  for (const key of prev.keys()) if (!present.has(key)) vanished++;
  return { deltas, recreated, vanished };
}

/** An interval longer than this many cadences had no snapshot where one was due: it is a gap, not a delta. */
export const MAX_INTERVAL_CADENCES = 2.5;
