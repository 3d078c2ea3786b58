import { entryDeltas, Lifetime, lifetimeBreak, Sample } from './deltas';

const life = (over: Partial<Lifetime> = {}): Lifetime => ({
  postmasterStart: '2026-12-01T00:00:00.000Z',
  systemId: '7350000000000000001',
  timeline: 1,
  statsReset: null,
  ...over,
});
const map = (samples: Sample[]) => new Map(samples.map((s) => [s.key, s]));

describe('lifetimeBreak', () => {
  it('finds none within one lifetime', () => {
    expect(lifetimeBreak(life(), life(), 'statements_reset')).toBeUndefined();
  });

  it.each([
    [{ systemId: '7350000000000000002' }, 'failover'],
    [{ timeline: 2 }, 'failover'],
    [{ postmasterStart: '2026-12-01T01:00:00.000Z' }, 'server_restart'],
    [{ statsReset: '2026-12-01T02:00:00.000Z' }, 'statements_reset'],
  ])('names %j as %s', (change, reason) => {
    expect(lifetimeBreak(life(), life(change as Partial<Lifetime>), 'statements_reset')).toBe(reason);
  });

  it('names the family its own reset', () => {
    expect(lifetimeBreak(life(), life({ statsReset: '2026-12-01T02:00:00.000Z' }), 'stats_reset')).toBe('stats_reset');
  });

  it('puts a failover before a restart, and a restart before a reset', () => {
    const everything = life({ systemId: 'x', postmasterStart: 'y', statsReset: 'z' });
    expect(lifetimeBreak(life(), everything, 'stats_reset')).toBe('failover');
    expect(lifetimeBreak(life(), life({ postmasterStart: 'y', statsReset: 'z' }), 'stats_reset')).toBe(
      'server_restart',
    );
  });
});

describe('entryDeltas', () => {
  it('subtracts, and stores nothing for an entry that did not move', () => {
    const prev = map([
      { key: 'a', counters: [10, 5.5, 0] },
      { key: 'b', counters: [3, 1, 0] },
    ]);
    const result = entryDeltas(prev, [
      { key: 'a', counters: [13, 8, 0] },
      { key: 'b', counters: [3, 1, 0] },
    ]);
    expect(result).toEqual({ deltas: [{ key: 'a', values: [3, 2.5, null], fresh: false }], recreated: 0, vanished: 0 });
  });

  it('counts a new entry whole: it was created in the interval', () => {
    expect(entryDeltas(new Map(), [{ key: 'n', counters: [4, 0, 2] }])).toEqual({
      deltas: [{ key: 'n', values: [4, null, 2], fresh: true }],
      recreated: 0,
      vanished: 0,
    });
  });

  it('takes an entry whose counter went down as created again, never a negative', () => {
    const result = entryDeltas(map([{ key: 'e', counters: [100, 50] }]), [{ key: 'e', counters: [7, 60] }]);
    expect(result).toEqual({ deltas: [{ key: 'e', values: [7, 60], fresh: true }], recreated: 1, vanished: 0 });
  });

  it('takes an entry whose stats_since moved (PostgreSQL 17+) as created again, even with higher counters', () => {
    const result = entryDeltas(map([{ key: 'e', counters: [5], since: 't1' }]), [
      { key: 'e', counters: [9], since: 't2' },
    ]);
    expect(result).toEqual({ deltas: [{ key: 'e', values: [9], fresh: true }], recreated: 1, vanished: 0 });
    // Same stats_since: an ordinary delta.
    expect(
      entryDeltas(map([{ key: 'e', counters: [5], since: 't1' }]), [{ key: 'e', counters: [9], since: 't1' }]),
    ).toEqual({ deltas: [{ key: 'e', values: [4], fresh: false }], recreated: 0, vanished: 0 });
  });

  it('stores nothing for entries that went away (evicted or reset), and counts them (the sign of an eviction before 1.9)', () => {
    expect(entryDeltas(map([{ key: 'gone', counters: [1] }]), [])).toEqual({ deltas: [], recreated: 0, vanished: 1 });
  });
});
