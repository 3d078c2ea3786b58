import { ApiProperty } from '@nestjs/swagger';
import { QUERY_TEXT_MODES, QueryTextMode } from '../../config/env';
import { redactSql } from './redact';

export type { QueryTextMode } from '../../config/env';

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
