import { ApiProperty } from '@nestjs/swagger';
import { InvalidParameterError } from '../common/errors';
import { TextParam } from '../http/query';
import { GAP_REASONS, GapReason } from './deltas';

/** A span of time: `15m`, `1h`, `7d` (and `s`). */
const SPAN = /^([1-9]\d{0,6})(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function spanMs(text: string): number | undefined {
  const m = SPAN.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : undefined;
}

const TIME_PATTERN =
  '^(now|-[1-9][0-9]{0,6}(s|m|h|d)|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)$';
const TIME_MESSAGE = 'must be an ISO 8601 time, now, or a relative one such as -15m';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Constructor<T = object> = new (...args: any[]) => T;

export interface WindowParams {
  window?: string;
  from?: string;
  to?: string;
}

/**
 * The parameters of every windowed answer, on top of a query's own: `window`, or `from` and `to`. One convention for
 * every family. No examples: Swagger UI pre-fills parameters with them, and window with from is a 400.
 */
export function Windowed<B extends Constructor>(Base: B, what = 'Counters become deltas over it') {
  class WindowedQuery extends Base implements WindowParams {
    @TextParam({
      description:
        `A window ending now, such as 15m, 1h or 7d (s, m, h or d). ${what}, from the history store; not with ` +
        'from/to. Without window, from and to the answer is the live one, cumulative since the last reset',
      maxLength: 9,
      pattern: '^[1-9][0-9]{0,6}(s|m|h|d)$',
      message: 'must be a span such as 15m, 1h or 7d',
    })
    window?: string;

    @TextParam({
      description:
        'Start of the window: ISO 8601 (2026-11-28T03:00:00Z), or relative to now (-15m, -2h); with `to` ' +
        '(default now) instead of `window`',
      maxLength: 40,
      pattern: TIME_PATTERN,
      message: TIME_MESSAGE,
    })
    from?: string;

    @TextParam({
      description: 'End of the window: ISO 8601, now (the default), or relative to now (-15m); needs `from`',
      maxLength: 40,
      pattern: TIME_PATTERN,
      message: TIME_MESSAGE,
    })
    to?: string;
  }
  return WindowedQuery;
}

export interface Window {
  from: Date;
  to: Date;
}

function timeOf(text: string, name: string, now: Date): Date {
  if (text === 'now') return now;
  if (text.startsWith('-')) return new Date(now.getTime() - (spanMs(text.slice(1)) ?? 0));
  const t = Date.parse(text);
  // Date.parse takes 2026-02-30 for March 2nd: the calendar date must exist as written.
  const [y, m, d] = text.slice(0, 10).split('-').map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  if (Number.isNaN(t) || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d) {
    throw InvalidParameterError.of(name, 'must be an ISO 8601 time, now, or a relative one such as -15m');
  }
  return new Date(t);
}

/**
 * The window a request asks for, or undefined for none. `window` and `from`/`to` are exclusive; from < to; the
 * window may not start before the retention (its history is gone) nor end in the future.
 */
export function parseWindow(q: WindowParams, retentionDays: number, now = new Date()): Window | undefined {
  if (q.window === undefined && q.from === undefined && q.to === undefined) return undefined;
  if (q.window !== undefined && (q.from !== undefined || q.to !== undefined)) {
    throw InvalidParameterError.of(q.from !== undefined ? 'from' : 'to', 'cannot be combined with window');
  }
  let window: Window;
  if (q.window !== undefined) {
    window = { from: new Date(now.getTime() - (spanMs(q.window) ?? 0)), to: now };
  } else {
    if (q.from === undefined) throw InvalidParameterError.of('from', 'is required with to');
    window = { from: timeOf(q.from, 'from', now), to: q.to === undefined ? now : timeOf(q.to, 'to', now) };
  }
  const name = q.window !== undefined ? 'window' : 'from';
  if (window.to.getTime() > now.getTime() + 60_000) throw InvalidParameterError.of('to', 'must not be in the future');
  if (window.from >= window.to) throw InvalidParameterError.of(name, 'must start before the window ends');
  if (window.from.getTime() < now.getTime() - retentionDays * 86_400_000 - 60_000) {
    throw InvalidParameterError.of(
      name,
      `must not start more than HISTORY_RETENTION_DAYS (${retentionDays} days) ago: that history is dropped`,
    );
  }
  return window;
}

export class GapDto {
  @ApiProperty({
    description: 'Start of the interval whose counts are unknown',
    format: 'date-time',
    example: '2026-11-28T03:10:00.000Z',
  })
  from!: string;

  @ApiProperty({ description: 'Its end', format: 'date-time', example: '2026-11-28T03:12:00.000Z' })
  to!: string;

  @ApiProperty({
    description:
      'Why: server_restart, stats_reset (pg_stat_database), statements_reset (pg_stat_statements), entry_evicted, ' +
      'failover (another system identifier or timeline), collector_down (no snapshot: pgscope or the server was ' +
      'down), store_down (the history store was)',
    enum: GAP_REASONS,
    enumName: 'GapReason',
    example: 'server_restart',
  })
  reason!: GapReason;
}

/** What a windowed answer covers (meta.window). */
export class WindowMetaDto {
  @ApiProperty({
    description: 'Start of the window asked for',
    format: 'date-time',
    example: '2026-11-28T02:29:00.000Z',
  })
  from!: string;

  @ApiProperty({ description: 'End of the window asked for', format: 'date-time', example: '2026-11-28T03:29:00.000Z' })
  to!: string;

  @ApiProperty({
    description:
      'Seconds of the window the counters cover: the intervals between snapshots that end in it, less the gaps ' +
      '(a window of an hour with 40 minutes of history says 2400)',
    example: 3540,
  })
  coveredSeconds!: number;

  @ApiProperty({ type: [GapDto], description: 'Intervals in the window whose counts are unknown, oldest first' })
  gaps!: GapDto[];

  @ApiProperty({
    description:
      'pg_stat_statements evicted entries in the window (pg_stat_statements_info.dealloc moved, or an entry was ' +
      'found created again): their earlier counts are lost, so the totals may be short',
    example: false,
  })
  possiblyIncomplete!: boolean;

  @ApiProperty({
    type: 'integer',
    description: 'How many entries were evicted or created again in the window (0 when complete)',
    example: 0,
  })
  evictions!: number;
}
