import type postgres from 'postgres';
import { DatabaseProvider } from '../database/database.provider';
import { Target } from '../targets/target';
import { EntryDelta, Lifetime, Sample } from './deltas';
import { StoreSql } from './store';

export const FAMILIES = ['statements', 'database', 'relations', 'sizes'] as const;
export type FamilyName = (typeof FAMILIES)[number];

/** What a family read from the watched server at one moment: cumulative counters (or levels), and their lifetime. */
export interface FamilySnapshot<Extra = unknown> {
  /** The watched server's now(): interval times come from its clock, not pgscope's. */
  at: Date;
  /** server_version of the watched server (meta.serverVersion of the windowed answers). */
  serverVersion: string;
  /** The database's oid, for per-database families (0 for server-wide ones). */
  dbid: number;
  lifetime: Lifetime;
  samples: Sample[];
  /** Entries with a lifetime of their own (each database's stats_reset): a change breaks that entry only. */
  entryLifetimes?: Map<string, string | null>;
  /** pg_stat_statements' version (111 for 1.11), for the statements family. */
  extensionVersion?: number;
  /** pg_stat_statements_info.dealloc, where the family has it. */
  dealloc?: number | null;
  /** What the family needs to write besides the counters (texts and names of entries, sizes). */
  extra: Extra;
}

export interface WriteContext<Extra> {
  targetId: number;
  dbid: number;
  at: Date;
  /** The previous snapshot's time, when this one's deltas are taken against it. */
  previousAt: Date | null;
  snapshot: FamilySnapshot<Extra>;
  /** The interval's deltas (empty for a baseline or a gap). */
  deltas: EntryDelta[];
  /** The previous snapshot's samples (levels families store only what changed). */
  previous: Map<string, Sample> | undefined;
}

/**
 * One family of snapshots: how it reads the watched server (through the DatabaseProvider's read path: read only,
 * timeouts, lock avoidance) and how it writes what changed into the store (in the collector's transaction).
 */
export interface Family<Extra = unknown> {
  readonly name: FamilyName;
  /** Read once per database of the target (tables and indexes), or once per server. */
  readonly perDatabase: boolean;
  /** The name of a break of this family's own reset time. */
  readonly reset: 'stats_reset' | 'statements_reset';
  /** Levels (sizes) are stored when they change; counters as deltas. */
  readonly levels?: boolean;
  intervalMs(): number;
  /** undefined: nothing to read there (pg_stat_statements not installed, a standby …), recorded as such. */
  read(db: DatabaseProvider, target: Target): Promise<FamilySnapshot<Extra> | { unavailable: string }>;
  write(tx: StoreSql, ctx: WriteContext<Extra>): Promise<number>;
  /** After the snapshot's transaction committed (what the family may now take as stored in the store). */
  committed?(targetId: number, snapshot: FamilySnapshot<Extra>): void;
}

/** Rows into a table in one statement: one jsonb parameter, typed by `columns` (no parameter limit, nulls kept). */
export function insertRows(
  tx: StoreSql,
  table: string,
  columns: Record<string, string>,
  rows: Record<string, unknown>[],
  onConflictDoNothing = false,
): postgres.PendingQuery<postgres.Row[]> | Promise<unknown[]> {
  if (rows.length === 0) return Promise.resolve([]);
  const names = Object.keys(columns);
  const defs = names.map((c) => `${c} ${columns[c]}`).join(', ');
  // Table and column names come from the families' code, never from a client.
  return tx`insert into ${tx(table)} (${tx(names)})
            select ${tx(names)} from jsonb_to_recordset(${tx.json(rows as never)}) as x(${tx.unsafe(defs)})
            ${onConflictDoNothing ? tx`on conflict do nothing` : tx``}`;
}
