import { forVersions, majorOf } from './pg-version';

describe('forVersions', () => {
  const variants = { 13: 'a', 16: 'b', 17: 'c' };

  it.each([
    [13, 'a'],
    [14, 'a'],
    [15, 'a'],
    [16, 'b'],
    [17, 'c'],
    [18, 'c'],
  ])('picks the greatest key not above %i', (major, expected) => {
    expect(forVersions(major, variants)).toBe(expected);
  });

  it('throws for a major below every key', () => {
    expect(() => forVersions(12, variants)).toThrow('No variant for PostgreSQL 12 (lowest is 13)');
  });
});

describe('majorOf', () => {
  it('reads the major from server_version_num', () => {
    expect(majorOf(130023)).toBe(13);
    expect(majorOf(180004)).toBe(18);
  });
});
