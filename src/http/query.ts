import { applyDecorators, ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { InvalidParameterError } from '../common/errors';

/**
 * The query with the defaults filled in where a parameter was not given. Each query DTO keeps its defaults in one
 * object, which its decorators document and its service applies with this.
 */
export function withDefaults<Q extends object, D extends Partial<Record<keyof Q, unknown>>>(
  defaults: D,
  query: Q,
): Q & { [K in keyof D]-?: NonNullable<D[K]> } {
  const given = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
  return { ...defaults, ...given } as Q & { [K in keyof D]-?: NonNullable<D[K]> };
}

/** 'true'/'false' (as a query string sends them) to booleans; anything else is left for IsBoolean to reject. */
const toBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;

/** `a,b` and `x=a&x=b` both to ['a', 'b']. */
export const toList = ({ value }: { value: unknown }): unknown =>
  (Array.isArray(value) ? value : [value]).flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]));

/**
 * An optional boolean query parameter (true|false). `example: null` leaves the example out: Swagger UI's
 * "Try it out" pre-fills parameters with their examples, which must then work on every supported server.
 */
export function BooleanParam(
  description: string,
  defaultValue?: boolean,
  example: boolean | null = defaultValue !== true,
): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ description, type: 'boolean', default: defaultValue, example: example ?? undefined }),
    IsOptional(),
    Transform(toBoolean),
    IsBoolean({ message: 'must be true or false' }),
  );
}

/**
 * Decimal integers only: `''`, `0x10`, `1e2`, `5.0` and `+5` stay strings, which IsInt then rejects (Number() and
 * class-transformer's implicit conversion would take them all).
 */
export const toInteger = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;

/** An optional integer query parameter within [min, max]. */
export function IntParam(
  description: string,
  min: number,
  max: number,
  defaultValue?: number,
  example = defaultValue ?? min,
): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ description, type: 'integer', minimum: min, maximum: max, default: defaultValue, example }),
    IsOptional(),
    Transform(toInteger),
    IsInt({ message: 'must be an integer (decimal digits only)' }),
    Min(min, { message: `must not be less than ${min}` }),
    Max(max, { message: `must not be greater than ${max}` }),
  );
}

const SORT_ORDERS = ['asc', 'desc'] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

/** `order`: asc | desc. */
export function OrderParam(defaultValue: SortOrder): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      description: 'Sort direction',
      enum: SORT_ORDERS,
      enumName: 'SortOrder',
      default: defaultValue,
      example: 'desc',
    }),
    IsOptional(),
    IsIn(SORT_ORDERS, { message: 'must be asc or desc' }),
  );
}

/** An enum parameter whose allowed values the error message lists. */
export function EnumParam(
  values: readonly string[],
  enumName: string,
  description: string,
  defaultValue?: string,
): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      description,
      enum: values,
      enumName,
      default: defaultValue,
      example: defaultValue ?? values[0],
    }),
    IsOptional(),
    IsIn(values, { message: `must be one of: ${values.join(', ')}` }),
  );
}

/** Postgres LIKE pattern that matches `text` literally anywhere (its % _ and \ are escaped). */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export interface TextParamOptions {
  description: string;
  /** Absent where no value can work everywhere (Swagger UI's "Try it out" pre-fills parameters with examples). */
  example?: string;
  minLength?: number;
  maxLength: number;
  /** What the value must match besides its length (default: anything but NUL); documented as `pattern`. */
  pattern?: string;
  /** The value the service uses when the parameter is absent (documented only). */
  default?: string;
  message?: string;
}

/**
 * An optional string parameter whose documented constraints (minLength, maxLength, pattern) are exactly the ones
 * enforced: one definition serves the document and the validation. Lengths count characters, as JSON Schema does.
 */
export function TextParam(o: TextParamOptions): PropertyDecorator {
  const minLength = o.minLength ?? 1;
  const pattern = o.pattern ?? `^[^\\u0000]{${minLength},${o.maxLength}}$`;
  const lengthMessage =
    minLength > 0 ? `must be ${minLength} to ${o.maxLength} characters` : `must be at most ${o.maxLength} characters`;
  return applyDecorators(
    ApiPropertyOptional({
      description: o.description,
      example: o.example,
      minLength,
      maxLength: o.maxLength,
      pattern,
      default: o.default,
    }),
    IsOptional(),
    IsString(),
    Matches(new RegExp(`^[\\s\\S]{${minLength},${o.maxLength}}$`, 'u'), { message: lengthMessage }),
    Matches(new RegExp(pattern, 'u'), { message: o.message ?? 'must not contain a NUL character' }),
  );
}

/** An optional exact-name parameter (schema, table, database, role): 1 to 128 characters. */
export function NameParam(description: string, example?: string): PropertyDecorator {
  return TextParam({ description, example, maxLength: 128 });
}

/**
 * A regular expression matching the decimal integers from 0 to `limit` (no leading zeros), digit by digit: the
 * exact range as a pattern a client can check, where a 64-bit value cannot be a JSON number.
 */
export function decimalUpTo(limit: string): string {
  const alternatives = ['0'];
  if (limit.length > 2) alternatives.push(`[1-9]\\d{0,${limit.length - 2}}`);
  else if (limit.length === 2) alternatives.push('[1-9]');
  for (let i = 0; i < limit.length; i++) {
    const lowest = i === 0 ? 1 : 0;
    const digit = Number(limit[i]);
    if (digit <= lowest) continue;
    const rest = limit.length - i - 1;
    const range = digit - 1 === lowest ? `${lowest}` : `[${lowest}-${digit - 1}]`;
    alternatives.push(`${limit.slice(0, i)}${range}${rest > 0 ? `\\d{${rest}}` : ''}`);
  }
  alternatives.push(limit);
  return alternatives.join('|');
}

/** A signed 64-bit integer in decimal: -9223372036854775808 to 9223372036854775807. */
export const INT64_PATTERN = `^(${decimalUpTo('9223372036854775807')}|-(${decimalUpTo('9223372036854775808').replace(/^0\|/, '')}))$`;

/**
 * Runs before validation on every query object: a NUL character cannot reach PostgreSQL in a text parameter
 * (22021 invalid byte sequence), so it is a 400 naming the parameter rather than a failed query.
 */
@Injectable()
export class RejectNulPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'query' || !value || typeof value !== 'object') return value;
    for (const [name, v] of Object.entries(value)) {
      const values: unknown[] = Array.isArray(v) ? v : [v];
      if (values.some((x) => typeof x === 'string' && x.includes('\u0000'))) {
        throw InvalidParameterError.of(name, 'must not contain a NUL character');
      }
    }
    return value;
  }
}
