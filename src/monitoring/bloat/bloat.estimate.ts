/**
 * Bloat estimates from the catalog and statistics only: the size the live rows would take if packed again with
 * the same fillfactor (what VACUUM FULL / REINDEX would leave), against the size on disk. Pure functions, so the
 * model can be unit-tested apart from any server.
 */
import { BloatConfidence, BloatDto, BloatReason } from './bloat.dto';

export const BLOCK_SIZE = 8192;
const PAGE_HEADER = 24;
const ITEM_POINTER = 4;
const HEAP_TUPLE_HEADER = 23;
const INDEX_TUPLE_HEADER = 8;
const BTREE_SPECIAL = 16;
const MAX_HEAP_TUPLES_PER_PAGE = 291;
const MAXALIGN = 8;
/** Relations smaller than this many pages are too small for a percentage to mean much. */
const TOO_SMALL_PAGES = 10;
/** n_mod_since_analyze above this share of the rows makes the column statistics stale. */
export const STALE_SHARE = 0.2;
/** A TOAST table bigger than this share of the heap makes the heap figure uncertain. */
const TOAST_HEAVY_SHARE = 1;

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

export interface ColumnInput {
  /** pg_type.typlen: > 0 fixed, -1 varlena, -2 cstring. */
  typlen: number;
  /** pg_type.typalign: c, s, i, d. */
  typalign: string;
  /** pg_stats.avg_width, or null without statistics. */
  avgWidth: number | null;
  /** pg_stats.null_frac, or null without statistics. */
  nullFrac: number | null;
}

export interface TableInput {
  /** Bytes of the main fork, or null when it could not be sized (locked). */
  heapBytes: number | null;
  toastBytes: number;
  /** Live rows now (n_live_tup), falling back to reltuples when the statistics system has nothing. */
  liveRows: number;
  reltuples: number;
  modSinceAnalyze: number;
  fillfactor: number;
  /** The role may read pg_stats for this table (SELECT on it, or pg_read_all_data). */
  statsVisible: boolean;
  columns: ColumnInput[];
}

const ALIGN_BYTES: Record<string, number> = { c: 1, s: 2, i: 4, d: 8 };

/**
 * Average bytes of a tuple's data, column by column in attribute order with each column's alignment (padding
 * depends on the order, so an average width is not enough). A varlena of up to 126 bytes has a 1-byte header and
 * no alignment; NULLs take no space. Returns null when a varlena column has no statistics.
 */
export function dataWidth(columns: ColumnInput[]): number | null {
  let offset = 0;
  for (const c of columns) {
    const present = 1 - (c.nullFrac ?? 0);
    if (c.typlen > 0) {
      offset = align(offset, ALIGN_BYTES[c.typalign] ?? 1) + c.typlen * present;
      continue;
    }
    if (c.avgWidth === null) return null;
    // Short varlenas (the common case) are not aligned; long ones are aligned to typalign.
    const aligned = c.avgWidth > 126 ? align(offset, ALIGN_BYTES[c.typalign] ?? 1) : offset;
    offset = aligned + c.avgWidth * present;
  }
  return offset;
}

function result(sizeBytes: number, expectedBytes: number, usedBytes: number, reasons: BloatReason[]): BloatDto {
  const reclaimable = Math.max(0, sizeBytes - expectedBytes);
  const confidence: BloatConfidence = reasons.some((r) => LOW.has(r)) ? 'low' : reasons.length > 0 ? 'medium' : 'high';
  return {
    method: 'estimate',
    reclaimableBytes: Math.round(reclaimable),
    reclaimableRatio: sizeBytes > 0 ? reclaimable / sizeBytes : 0,
    freeInclFillfactorRatio: sizeBytes > 0 ? Math.max(0, Math.min(1, 1 - usedBytes / sizeBytes)) : 0,
    confidence,
    reasons,
    durationMs: null,
  };
}

/**
 * Reasons that make a figure untrustworthy by more than a few points. `stats_stale` is one: the column widths come
 * from the last ANALYZE, and values rewritten since (longer or shorter) move the estimate by tens of points (the
 * bloat-accuracy scenarios: 31 points for a heap, 33 and 42 for a text btree).
 */
const LOW = new Set<BloatReason>(['stats_missing', 'stats_stale', 'too_small', 'partial_or_expression', 'toast_heavy']);

export function unavailable(reasons: BloatReason[]): BloatDto {
  return {
    method: 'estimate',
    reclaimableBytes: null,
    reclaimableRatio: null,
    freeInclFillfactorRatio: null,
    confidence: 'unavailable',
    reasons,
    durationMs: null,
  };
}

/** Heap pages the live rows need when packed with this fillfactor. */
export function packedHeapPages(rows: number, tupleBytes: number, fillfactor: number): number {
  const saveFree = Math.floor((BLOCK_SIZE * (100 - fillfactor)) / 100);
  const usable = BLOCK_SIZE - PAGE_HEADER - saveFree;
  const perPage = Math.max(1, Math.min(MAX_HEAP_TUPLES_PER_PAGE, Math.floor(usable / (tupleBytes + ITEM_POINTER))));
  return Math.ceil(rows / perPage);
}

export function estimateTable(t: TableInput): BloatDto {
  if (t.heapBytes === null) return unavailable(['relation_locked']);
  const width = dataWidth(t.columns);
  const reasons: BloatReason[] = [];
  if (width === null) return unavailable([t.statsVisible ? 'stats_missing' : 'stats_not_visible']);
  const hasNulls = t.columns.some((c) => (c.nullFrac ?? 0) > 0);
  const header = align(HEAP_TUPLE_HEADER + (hasNulls ? Math.ceil(t.columns.length / 8) : 0), MAXALIGN);
  const tupleBytes = header + align(width, MAXALIGN);
  const expectedPages = packedHeapPages(t.liveRows, tupleBytes, t.fillfactor);
  const pages = t.heapBytes / BLOCK_SIZE;
  if (t.columns.some((c) => c.typlen < 0 && c.avgWidth === null)) reasons.push('stats_missing');
  if (t.reltuples > 0 && t.modSinceAnalyze / t.reltuples > STALE_SHARE) reasons.push('stats_stale');
  if (t.toastBytes > TOAST_HEAVY_SHARE * t.heapBytes && t.toastBytes > TOO_SMALL_PAGES * BLOCK_SIZE) {
    reasons.push('toast_heavy');
  }
  if (pages < TOO_SMALL_PAGES) reasons.push('too_small');
  const used = t.liveRows * (tupleBytes + ITEM_POINTER) + pages * PAGE_HEADER;
  return result(t.heapBytes, expectedPages * BLOCK_SIZE, used, reasons);
}

export interface IndexInput {
  amname: string;
  sizeBytes: number | null;
  /** Rows of the table (live). */
  rows: number;
  fillfactor: number;
  unique: boolean;
  partial: boolean;
  expression: boolean;
  /** Key columns, with the statistics of the table column (or the expression) and its n_distinct. */
  columns: (ColumnInput & { nDistinct: number | null })[];
  /** Every key type supports deduplication (equality is image equality: integers, text in a deterministic collation …). */
  dedupCapable: boolean;
  /** The server does btree deduplication (PostgreSQL 13+). */
  dedupServer: boolean;
  statsVisible: boolean;
  /** The table's statistics are stale (n_mod_since_analyze over STALE_SHARE of reltuples): the key widths may be too. */
  statsStale: boolean;
}

/** Largest posting list tuple nbtree builds (BTMaxItemSize / 2 for 8 kB pages). */
const MAX_POSTING_BYTES = 1352;
const HEAP_TID = 6;
/** Beyond this many nullable key columns the 2^n null patterns are not enumerated (column averages instead). */
const MAX_NULL_PATTERNS_COLUMNS = 5;

interface NullPattern {
  /** Share of the rows with exactly these key columns present (the others NULL), assuming independence. */
  share: number;
  present: boolean[];
}

/** The combinations of NULL key columns, each with its share of the rows (columns assumed independent). */
function nullPatterns(columns: ColumnInput[]): NullPattern[] {
  const nullable = columns.map((c, i) => ((c.nullFrac ?? 0) > 0 ? i : -1)).filter((i) => i >= 0);
  if (nullable.length > MAX_NULL_PATTERNS_COLUMNS) return [];
  const patterns: NullPattern[] = [];
  for (let mask = 0; mask < 1 << nullable.length; mask++) {
    const present = columns.map(() => true);
    let share = 1;
    nullable.forEach((col, bit) => {
      const isNull = (mask >> bit) & 1;
      const nf = columns[col].nullFrac ?? 0;
      present[col] = !isNull;
      share *= isNull ? nf : 1 - nf;
    });
    if (share > 0) patterns.push({ share, present });
  }
  return patterns;
}

/** Data bytes of an index tuple with these columns present, in attribute order with their alignment. */
function presentWidth(columns: ColumnInput[], present: boolean[]): number {
  return dataWidth(columns.map((c, i) => ({ ...c, nullFrac: present[i] ? 0 : 1 }))) ?? 0;
}

/**
 * Leaf bytes of one group of index tuples of the same size: `rows` tuples with `distinct` keys. On PostgreSQL 13+ a
 * deduplicating btree stores a key's duplicates as posting lists (split past MAX_POSTING_BYTES).
 */
function leafBytesOf(rows: number, distinct: number | null, tupleBytes: number, dedup: boolean): [number, boolean] {
  const dups = distinct && distinct > 0 ? rows / distinct : 1;
  if (!dedup || dups < 2 || distinct === null) return [rows * (tupleBytes + ITEM_POINTER), false];
  const tidsPerPosting = Math.max(1, Math.floor((MAX_POSTING_BYTES - tupleBytes) / HEAP_TID));
  const postingsPerKey = Math.ceil(dups / tidsPerPosting);
  const perKey =
    postingsPerKey * (ITEM_POINTER + tupleBytes) +
    align(Math.min(dups, tidsPerPosting * postingsPerKey) * HEAP_TID, MAXALIGN);
  return [distinct * perKey, true];
}

export function estimateBtree(ix: IndexInput): BloatDto | null {
  if (ix.amname !== 'btree') return null;
  if (ix.sizeBytes === null) return unavailable(['relation_locked']);
  if (dataWidth(ix.columns) === null) return unavailable([ix.statsVisible ? 'stats_missing' : 'stats_not_visible']);
  const reasons: BloatReason[] = [];
  const usable = BLOCK_SIZE - PAGE_HEADER - BTREE_SPECIAL;
  const leafTarget = usable - Math.floor((BLOCK_SIZE * (100 - ix.fillfactor)) / 100);
  const dedup = ix.dedupServer && ix.dedupCapable && !ix.unique;
  // Distinct non-null values of each key column (n_distinct < 0 is a share of the rows).
  const distinctOf = ix.columns.map((c) =>
    c.nDistinct === null ? null : c.nDistinct < 0 ? -c.nDistinct * ix.rows : c.nDistinct,
  );
  let leafBytes = 0;
  let deduplicated = false;
  let widestTuple = 0;
  const patterns = nullPatterns(ix.columns);
  if (patterns.length === 0) patterns.push({ share: 1, present: ix.columns.map(() => true) });
  // Each combination of NULL key columns is its own group: a tuple with a NULL carries a null bitmap (its data
  // starts at MAXALIGN(8 + 4) = 16, not 8) and lacks those columns' bytes, and NULLs deduplicate like any key.
  for (const p of patterns) {
    const rows = ix.rows * p.share;
    const anyNull = p.present.some((x) => !x);
    const tupleBytes = align((anyNull ? 16 : INDEX_TUPLE_HEADER) + presentWidth(ix.columns, p.present), MAXALIGN);
    widestTuple = Math.max(widestTuple, tupleBytes);
    let distinct: number | null = 1;
    for (const [i, d] of distinctOf.entries()) {
      if (!p.present[i]) continue;
      distinct = d === null || distinct === null ? null : distinct * d;
    }
    const keys = distinct === null ? null : Math.min(Math.max(distinct, 1), Math.max(rows, 1));
    const [bytes, dedupd] = leafBytesOf(rows, keys, tupleBytes, dedup);
    leafBytes += bytes;
    deduplicated ||= dedupd;
  }
  if (deduplicated) reasons.push('dedup_likely');
  const leafPages = Math.max(1, Math.ceil(leafBytes / leafTarget));
  // Internal levels: one downlink per page below, pages filled to 70 % (the nbtree default for internal pages).
  let internal = 0;
  for (let level = leafPages; level > 1;) {
    level = Math.ceil(level / Math.max(2, Math.floor((usable * 0.7) / (widestTuple + ITEM_POINTER))));
    internal += level;
  }
  const expectedBytes = (1 + leafPages + internal) * BLOCK_SIZE;
  if (ix.statsStale) reasons.push('stats_stale');
  if (ix.partial || ix.expression) reasons.push('partial_or_expression');
  if (ix.sizeBytes / BLOCK_SIZE < TOO_SMALL_PAGES) reasons.push('too_small');
  return result(ix.sizeBytes, expectedBytes, leafBytes, reasons);
}
