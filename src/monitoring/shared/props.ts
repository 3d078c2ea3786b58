import { ApiPropertyOptions } from '@nestjs/swagger';

/** Property shorthands for the DTOs: every field described, typed and exemplified (the contract test asks). */
export const intProp = (description: string, example: number | null, nullable = false): ApiPropertyOptions => ({
  type: 'integer',
  format: 'int64',
  nullable,
  description,
  example,
});
export const numProp = (description: string, example: number | null, nullable = false): ApiPropertyOptions => ({
  type: 'number',
  nullable,
  description,
  example,
});
export const timeProp = (
  description: string,
  example: string | null = '2026-11-28T02:50:00.000Z',
): ApiPropertyOptions => ({
  type: 'string',
  format: 'date-time',
  nullable: true,
  description,
  example,
});
export const textProp = (description: string, example: string | null, nullable = true): ApiPropertyOptions => ({
  type: 'string',
  nullable,
  description,
  example,
});
export const boolProp = (description: string, example: boolean | null, nullable = false): ApiPropertyOptions => ({
  type: 'boolean',
  nullable,
  description,
  example,
});
