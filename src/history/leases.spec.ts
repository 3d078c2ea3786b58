import { shareOf } from './leases';

describe('shareOf', () => {
  it('adds up to the targets, the first ids by name taking the remainder', () => {
    const live = ['b', 'a', 'c'];
    const shares = live.map((id) => shareOf(10, live, id));
    expect(shares.map((s) => s.quota)).toEqual([3, 4, 3]);
    expect(shares.every((s) => s.ceiling === 4)).toBe(true);
    expect(shares.reduce((n, s) => n + s.quota, 0)).toBe(10);
  });

  it('counts the asking instance even before its first heartbeat shows', () => {
    expect(shareOf(10, ['a'], 'b')).toEqual({ quota: 5, ceiling: 5 });
  });

  it('gives nothing beyond the targets: fewer targets than instances', () => {
    expect(['a', 'b', 'c'].map((id) => shareOf(2, ['a', 'b', 'c'], id).quota)).toEqual([1, 1, 0]);
    expect(shareOf(0, ['a'], 'a')).toEqual({ quota: 0, ceiling: 0 });
  });

  it('takes every target alone', () => {
    expect(shareOf(30, [], 'only')).toEqual({ quota: 30, ceiling: 30 });
  });
});
