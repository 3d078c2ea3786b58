import { applyDecorators, ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { InvalidParameterError } from './errors';

/** 'true'/'false' (as a query string sends them) to booleans; anything else is left for IsBoolean to reject. */
export const toBoolean = ({ value }: { value: unknown }): unknown =>
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
    Type(() => Number),
    IsInt({ message: 'must be an integer' }),
    Min(min, { message: `must not be less than ${min}` }),
    Max(max, { message: `must not be greater than ${max}` }),
  );
}

export const SORT_ORDERS = ['asc', 'desc'] as const;
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

/** An optional exact-name parameter (schema, table, database, role): 1 to 128 characters. */
export function NameParam(description: string, example: string): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ description, example }),
    IsOptional(),
    IsString(),
    Matches(/^.{1,128}$/su, { message: 'must be 1 to 128 characters' }),
  );
}

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
