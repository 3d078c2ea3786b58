import { ApiProperty } from '@nestjs/swagger';

export const BLOAT_METHODS = ['estimate', 'measured'] as const;
export type BloatMethod = (typeof BLOAT_METHODS)[number];

export const BLOAT_CONFIDENCE = ['high', 'medium', 'low', 'unavailable'] as const;
export type BloatConfidence = (typeof BLOAT_CONFIDENCE)[number];

/** Why a bloat figure is less than certain. Documented in the README's bloat section. */
export const BLOAT_REASONS = [
  'stats_stale',
  'stats_missing',
  'stats_not_visible',
  'toast_heavy',
  'dedup_likely',
  'partial_or_expression',
  'too_small',
  'not_btree',
  'relation_locked',
  'measure_failed',
] as const;
export type BloatReason = (typeof BLOAT_REASONS)[number];

export class BloatDto {
  @ApiProperty({
    enum: BLOAT_METHODS,
    enumName: 'BloatMethod',
    description: 'estimate (catalog and statistics) or measured (pgstattuple)',
  })
  method!: BloatMethod;

  @ApiProperty({
    type: 'integer',
    format: 'int64',
    nullable: true,
    description: 'Bytes VACUUM FULL (tables) or REINDEX (indexes) would give back; null when confidence is unavailable',
  })
  reclaimableBytes!: number | null;

  @ApiProperty({ type: 'number', nullable: true, description: 'reclaimableBytes / the relation size, 0..1' })
  reclaimableRatio!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description:
      'All free space including the fillfactor reserve, 0..1 of the size (what most tools call bloat); the reserve is not reclaimable',
  })
  freeInclFillfactorRatio!: number | null;

  @ApiProperty({ enum: BLOAT_CONFIDENCE, enumName: 'BloatConfidence', description: 'How far to trust the figure' })
  confidence!: BloatConfidence;

  @ApiProperty({
    enum: BLOAT_REASONS,
    enumName: 'BloatReason',
    isArray: true,
    description: 'Why confidence is not high (empty when it is)',
  })
  reasons!: BloatReason[];

  @ApiProperty({
    example: 12.5,
    type: 'number',
    nullable: true,
    description: 'measured only: time the scan took, ms; null for estimates',
  })
  durationMs!: number | null;
}
