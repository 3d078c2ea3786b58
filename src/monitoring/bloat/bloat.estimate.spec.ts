import { dataWidth, estimateBtree, estimateTable, IndexInput, packedHeapPages, TableInput } from './bloat.estimate';

const int8 = { typlen: 8, typalign: 'd', avgWidth: 8, nullFrac: 0 };
const int4 = { typlen: 4, typalign: 'i', avgWidth: 4, nullFrac: 0 };
const bool = { typlen: 1, typalign: 'c', avgWidth: 1, nullFrac: 0 };
const text = (avgWidth: number | null) => ({
  typlen: -1,
  typalign: 'i',
  avgWidth,
  nullFrac: avgWidth === null ? null : 0,
});

describe('dataWidth', () => {
  it('pads each column to its alignment in attribute order', () => {
    // bool, int8, bool, int8: 1 + 7 pad + 8 + 1 + 7 pad + 8 = 32; the reverse order packs to 8 + 8 + 1 + 1 = 18.
    expect(dataWidth([bool, int8, bool, int8])).toBe(32);
    expect(dataWidth([int8, int8, bool, bool])).toBe(18);
  });

  it('does not align short varlenas, and needs statistics for them', () => {
    expect(dataWidth([bool, text(11)])).toBe(12);
    expect(dataWidth([int4, text(null)])).toBeNull();
  });

  it('counts NULLs as taking no space', () => {
    expect(dataWidth([{ ...int8, nullFrac: 0.5 }])).toBe(4);
  });
});

describe('packedHeapPages', () => {
  it('packs to the fillfactor', () => {
    // (8192 - 24) / (40 + 4) = 185 tuples per page; with fillfactor 70, (8168 - 2457) / 44 = 129.
    expect(packedHeapPages(1850, 40, 100)).toBe(10);
    expect(packedHeapPages(1290, 40, 70)).toBe(10);
  });

  it('never puts more than 291 tuples on a page', () => {
    expect(packedHeapPages(2910, 1, 100)).toBe(10);
  });
});

const table = (over: Partial<TableInput> = {}): TableInput => ({
  heapBytes: 100 * 8192,
  toastBytes: 0,
  liveRows: 100 * 185,
  reltuples: 100 * 185,
  modSinceAnalyze: 0,
  fillfactor: 100,
  statsVisible: true,
  // 24-byte header + 16 bytes of data = 40 bytes a tuple.
  columns: [int8, int8],
  ...over,
});

describe('estimateTable', () => {
  it('reads a packed table as 0 % reclaimable with high confidence', () => {
    expect(estimateTable(table())).toMatchObject({
      reclaimableBytes: 0,
      reclaimableRatio: 0,
      confidence: 'high',
      reasons: [],
    });
  });

  it('reads half the rows gone as half reclaimable', () => {
    expect(estimateTable(table({ liveRows: 50 * 185 })).reclaimableRatio).toBeCloseTo(0.5, 5);
  });

  it('marks stale statistics and tiny tables', () => {
    expect(estimateTable(table({ modSinceAnalyze: 10_000 }))).toMatchObject({
      confidence: 'low',
      reasons: ['stats_stale'],
    });
    expect(estimateTable(table({ heapBytes: 8192, liveRows: 10 }))).toMatchObject({
      confidence: 'low',
      reasons: ['too_small'],
    });
  });

  it('says unavailable, never a number, when a varlena column has no visible statistics', () => {
    const noStats = table({ columns: [int8, text(null)] });
    expect(estimateTable(noStats)).toMatchObject({
      reclaimableBytes: null,
      confidence: 'unavailable',
      reasons: ['stats_missing'],
    });
    expect(estimateTable({ ...noStats, statsVisible: false }).reasons).toEqual(['stats_not_visible']);
    expect(estimateTable(table({ heapBytes: null })).reasons).toEqual(['relation_locked']);
  });
});

const btree = (over: Partial<IndexInput> = {}): IndexInput => ({
  amname: 'btree',
  sizeBytes: 1000 * 8192,
  rows: 100_000,
  fillfactor: 90,
  unique: false,
  partial: false,
  expression: false,
  columns: [{ ...int4, nDistinct: -1 }],
  dedupCapable: true,
  dedupServer: true,
  statsVisible: true,
  statsStale: false,
  ...over,
});
const keyed = (nDistinct: number, nullFrac = 0) => ({ ...int4, nDistinct, nullFrac });

describe('estimateBtree', () => {
  it('gives no figure for other access methods', () => {
    expect(estimateBtree(btree({ amname: 'gin' }))).toBeNull();
  });

  it('models deduplication for duplicate keys and says it did', () => {
    const unique = estimateBtree(btree())!;
    const dups = estimateBtree(btree({ columns: [keyed(10)] }))!;
    expect(dups.reasons).toContain('dedup_likely');
    expect(dups.confidence).toBe('medium');
    // Posting lists make the packed index much smaller, so more of the same size is reclaimable.
    expect(dups.reclaimableBytes!).toBeGreaterThan(unique.reclaimableBytes!);
    expect(estimateBtree(btree({ columns: [keyed(10)], unique: true }))!.reasons).not.toContain('dedup_likely');
    expect(estimateBtree(btree({ columns: [keyed(10)], dedupServer: false }))!.reasons).not.toContain('dedup_likely');
  });

  it('gives tuples with a NULL key their null bitmap, and deduplicates NULLs of otherwise unique keys', () => {
    // (int4, int4) with the second column NULL in a third of the rows: those carry a 16-byte header and share, per
    // leading value, one key.
    const noNulls = estimateBtree(btree({ columns: [keyed(1000), keyed(-1)], dedupServer: false }))!;
    const nulls = estimateBtree(btree({ columns: [keyed(1000), keyed(-0.667, 1 / 3)], dedupServer: false }))!;
    // Without deduplication the NULL rows are as big (16 + 4 = 20 → 24 bytes vs 8 + 8 = 16 → 16): the index is bigger.
    expect(nulls.reclaimableBytes!).toBeLessThan(noNulls.reclaimableBytes!);
    const deduped = estimateBtree(btree({ columns: [keyed(1000), keyed(-0.667, 1 / 3)] }))!;
    expect(deduped.reasons).toContain('dedup_likely');
    expect(deduped.reclaimableBytes!).toBeGreaterThan(nulls.reclaimableBytes!);
  });

  it('makes an estimate on stale statistics low: the key widths are from before the rewrite', () => {
    expect(estimateBtree(btree({ statsStale: true }))).toMatchObject({
      confidence: 'low',
      reasons: ['stats_stale'],
    });
  });

  it('marks partial and expression indexes', () => {
    expect(estimateBtree(btree({ partial: true }))!.reasons).toContain('partial_or_expression');
  });
});
