import { planSpan, Span } from './window-read';

const H = 3_600_000;
const D = 24 * H;
const at = (iso: string) => Date.parse(iso);
const window = (from: string, to: string): Span => ({ lo: at(from), loIn: false, hi: at(to), hiIn: true });
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 16);
const show = (pieces: ReturnType<typeof planSpan>) =>
  pieces.map(
    (p) =>
      `${['daily', 'hourly'][p.level] ?? 'raw'} ${p.loIn ? '[' : '('}${iso(p.lo)} ${iso(p.hi)}${p.hiIn ? ']' : ')'}`,
  );

describe('planSpan', () => {
  const rollups = [
    { unitMs: D, through: new Date('2026-12-01T00:00:00Z') },
    { unitMs: H, through: new Date('2026-12-01T12:00:00Z') },
  ];

  it('reads whole days from the daily rollup, whole hours around them, raw deltas at the edges', () => {
    expect(show(planSpan(window('2026-11-17T12:34:00Z', '2026-12-01T12:34:00Z'), rollups))).toEqual([
      'raw (2026-11-17T12:34 2026-11-17T13:00)',
      'hourly [2026-11-17T13:00 2026-11-18T00:00)',
      'daily [2026-11-18T00:00 2026-12-01T00:00)',
      'hourly [2026-12-01T00:00 2026-12-01T12:00)',
      'raw [2026-12-01T12:00 2026-12-01T12:34]',
    ]);
  });

  it('covers the window without a hole or an overlap, whatever its ends', () => {
    for (const [from, to] of [
      ['2026-11-20T00:00:00Z', '2026-11-30T00:00:00Z'],
      ['2026-11-20T00:00:00Z', '2026-12-01T18:00:00Z'],
      ['2026-11-29T23:59:00Z', '2026-11-30T00:01:00Z'],
      ['2026-11-01T05:00:00Z', '2026-11-03T05:00:00Z'],
    ]) {
      const pieces = planSpan(window(from, to), rollups);
      expect(pieces[0]).toMatchObject({ lo: at(from), loIn: false });
      expect(pieces.at(-1)).toMatchObject({ hi: at(to), hiIn: true });
      for (let i = 1; i < pieces.length; i++) {
        // Each piece starts where the previous ended, with the end on exactly one side.
        expect(pieces[i].lo).toBe(pieces[i - 1].hi);
        expect(pieces[i].loIn).toBe(!pieces[i - 1].hiIn);
      }
    }
  });

  it('never reads a rollup past its watermark, nor one that has nothing yet', () => {
    expect(show(planSpan(window('2026-12-01T10:30:00Z', '2026-12-01T14:30:00Z'), rollups))).toEqual([
      'raw (2026-12-01T10:30 2026-12-01T11:00)',
      'hourly [2026-12-01T11:00 2026-12-01T12:00)',
      'raw [2026-12-01T12:00 2026-12-01T14:30]',
    ]);
    expect(
      show(planSpan(window('2026-11-20T10:30:00Z', '2026-11-25T14:30:00Z'), [{ unitMs: D, through: null }])),
    ).toEqual(['raw (2026-11-20T10:30 2026-11-25T14:30]']);
  });

  it('keeps a bucket that starts exactly at the window’s start out: that instant is before the window', () => {
    const pieces = planSpan(window('2026-11-30T10:00:00Z', '2026-11-30T13:00:00Z'), [
      { unitMs: D, through: null },
      rollups[1],
    ]);
    expect(show(pieces)).toEqual([
      'raw (2026-11-30T10:00 2026-11-30T11:00)',
      'hourly [2026-11-30T11:00 2026-11-30T13:00)',
      'raw [2026-11-30T13:00 2026-11-30T13:00]',
    ]);
  });
});
