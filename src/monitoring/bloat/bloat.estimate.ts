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
export const TOO_SMALL_PAGES = 10;
/** n_mod_since_analyze above this share of the rows makes the column statistics stale. */
export const STALE_SHARE = 0.2;
/** A TOAST table bigger than this share of the heap makes the heap figure uncertain. */
export const TOAST_HEAVY_SHARE = 1;

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
  /** Bytes of the main fork, or null when locked. */
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

/** Reasons that make a figure untrustworthy by more than a few points. */
const LOW = new Set<BloatReason>(['stats_missing', 'too_small', 'partial_or_expression', 'toast_heavy']);

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
  /** Key columns, with the statistics of the table column (or the expression). */
  columns: ColumnInput[];
  /** Estimated distinct keys (from pg_stats.n_distinct), or null. */
  distinctKeys: number | null;
  /** Every key type supports deduplication (equality is image equality: integers, text in a deterministic collation …). */
  dedupCapable: boolean;
  /** The server does btree deduplication (PostgreSQL 13+). */
  dedupServer: boolean;
  statsVisible: boolean;
}

/** Largest posting list tuple nbtree builds (BTMaxItemSize / 2 for 8 kB pages). */
const MAX_POSTING_BYTES = 1352;
const HEAP_TID = 6;

export function estimateBtree(ix: IndexInput): BloatDto | null {
  if (ix.amname !== 'btree') return null;
  if (ix.sizeBytes === null) return unavailable(['relation_locked']);
  const width = dataWidth(ix.columns);
  if (width === null) return unavailable([ix.statsVisible ? 'stats_missing' : 'stats_not_visible']);
  const reasons: BloatReason[] = [];
  const hasNulls = ix.columns.some((c) => (c.nullFrac ?? 0) > 0);
  const keyBytes = align(INDEX_TUPLE_HEADER + (hasNulls ? 4 : 0), 1) + width;
  const tupleBytes = align(keyBytes, MAXALIGN);
  const usable = BLOCK_SIZE - PAGE_HEADER - BTREE_SPECIAL;
  const leafTarget = usable - Math.floor((BLOCK_SIZE * (100 - ix.fillfactor)) / 100);
  let leafBytes: number;
  const dups = ix.distinctKeys && ix.distinctKeys > 0 ? ix.rows / ix.distinctKeys : 1;
  if (ix.dedupServer && ix.dedupCapable && !ix.unique && dups >= 2) {
    // Deduplication: one posting list tuple per key (split when it would grow past MAX_POSTING_BYTES).
    const tidsPerPosting = Math.max(1, Math.floor((MAX_POSTING_BYTES - tupleBytes) / HEAP_TID));
    const postingsPerKey = Math.ceil(dups / tidsPerPosting);
    const perKey =
      postingsPerKey * (ITEM_POINTER + tupleBytes) +
      align(Math.min(dups, tidsPerPosting * postingsPerKey) * HEAP_TID, MAXALIGN);
    leafBytes = (ix.distinctKeys ?? 0) * perKey;
    reasons.push('dedup_likely');
  } else {
    leafBytes = ix.rows * (tupleBytes + ITEM_POINTER);
  }
  const leafPages = Math.max(1, Math.ceil(leafBytes / leafTarget));
  // Internal levels: one downlink per page below, pages filled to 70 % (the nbtree default for internal pages).
  let internal = 0;
  for (let level = leafPages; level > 1;) {
    level = Math.ceil(level / Math.max(2, Math.floor((usable * 0.7) / (tupleBytes + ITEM_POINTER))));
    internal += level;
  }
  const expectedBytes = (1 + leafPages + internal) * BLOCK_SIZE;
  if (ix.partial || ix.expression) reasons.push('partial_or_expression');
  if (ix.columns.some((c) => c.typlen < 0 && c.avgWidth === null)) reasons.push('stats_missing');
  if (ix.sizeBytes / BLOCK_SIZE < TOO_SMALL_PAGES) reasons.push('too_small');
  return result(ix.sizeBytes, expectedBytes, leafBytes, reasons);
}
