import { ApiProperty } from '@nestjs/swagger';
import { redactSql } from './redact';

/** QUERY_TEXT: how much of the SQL texts of sessions and statements the API shows. */
export const QUERY_TEXT_MODES = ['full', 'redacted', 'none'] as const;
export type QueryTextMode = (typeof QUERY_TEXT_MODES)[number];

/** A text as QUERY_TEXT allows it to be shown. */
export function presentQueryText(mode: QueryTextMode, text: string | null): string | null {
  if (text === null || mode === 'none') return null;
  return mode === 'redacted' ? redactSql(text) : text;
}

export const QueryTextProperty = (): PropertyDecorator =>
  ApiProperty({
    enum: QUERY_TEXT_MODES,
    enumName: 'QueryTextMode',
    description:
      "The server's QUERY_TEXT setting: `full` shows texts as PostgreSQL has them, `redacted` replaces every literal " +
      '(strings, dollar-quoted bodies, numbers) with `?` and drops comments, `none` makes every `query` null.',
    example: 'full',
  });
