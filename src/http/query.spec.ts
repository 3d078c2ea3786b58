import { decimalUpTo, INT64_PATTERN, toInteger } from './query';

describe('decimalUpTo', () => {
  it.each(['5', '10', '42', '100', '255', '9223372036854775807'])('matches exactly 0..%s', (limit) => {
    const re = new RegExp(`^(${decimalUpTo(limit)})$`);
    const max = BigInt(limit);
    const probes = new Set<bigint>([0n, 1n, max, max + 1n, max - 1n, max * 10n, max + 10n]);
    for (let i = 0n; i < 300n; i++) probes.add(i);
    for (let digits = 1; digits <= limit.length + 1; digits++) {
      probes.add(10n ** BigInt(digits) - 1n);
      probes.add(10n ** BigInt(digits - 1));
    }
    for (const n of probes) expect([String(n), re.test(String(n))]).toEqual([String(n), n <= max]);
    expect(re.test('007')).toBe(false);
    expect(re.test('')).toBe(false);
  });
});

describe('INT64_PATTERN', () => {
  const re = new RegExp(INT64_PATTERN);
  it.each([
    ['0', true],
    ['-1', true],
    ['9223372036854775807', true],
    ['-9223372036854775808', true],
    ['9223372036854775808', false],
    ['-9223372036854775809', false],
    ['99999999999999999999', false],
    ['-0', false],
    ['+5', false],
    ['1e3', false],
    ['0x10', false],
    ['', false],
  ])('%s → %s', (value, ok) => expect(re.test(value)).toBe(ok));
});

describe('toInteger', () => {
  it.each([
    ['5', 5],
    ['-3', -3],
    ['', ''],
    ['0x10', '0x10'],
    ['1e2', '1e2'],
    ['5.0', '5.0'],
    ['+5', '+5'],
    [' 5', ' 5'],
  ])('%j → %j', (value, expected) => expect(toInteger({ value })).toBe(expected));
});
