import { Inject, Injectable } from '@nestjs/common';
import { buildMeta, warning, WarningDto } from '../../common/meta.dto';
import { Env } from '../../config/env';
import { DatabaseProvider } from '../../database/database.provider';
import { avoidingLocks, lockedWarning, SIZE_LOCK_TIMEOUT_MS } from '../shared/locks';
import { BuffersDto, CacheQueryDto, CacheResponseDto, RatioStatus } from './cache.dto';
import {
  bufferRelationsQuery,
  bufferTotalsQuery,
  CacheFilters,
  databaseCacheQuery,
  perIndexQuery,
  perTableQuery,
  tablesTotalsQuery,
} from './cache.sql';

@Injectable()
export class CacheService {
  constructor(
    private readonly db: DatabaseProvider,
    @Inject(Env) private readonly env: Env,
  ) {}

  /** hit / (hit + read), or null when there was no traffic. */
  private ratio(hit: number | null, read: number | null): number | null {
    const total = (hit ?? 0) + (read ?? 0);
    return total > 0 ? (hit ?? 0) / total : null;
  }

  private status(hit: number | null, read: number | null): RatioStatus | null {
    const total = (hit ?? 0) + (read ?? 0);
    if (total < this.env.HIT_RATIO_MIN_BLOCKS || total === 0) return null;
    const r = (hit ?? 0) / total;
    return r >= this.env.HIT_RATIO_GOOD ? 'good' : r >= this.env.HIT_RATIO_WARNING ? 'warning' : 'critical';
  }

  async getCache(query: CacheQueryDto): Promise<CacheResponseDto> {
    const started = performance.now();
    const filters: CacheFilters = {
      schema: query.schema,
      table: query.table,
      orderBy: query.orderBy ?? 'reads',
      order: query.order ?? 'desc',
      limit: query.limit ?? 50,
      minReads: query.minReads,
    };
    return this.db.read(
      'cache',
      async (ctx) => {
        const { sql, info } = ctx;
        const [dbRow] = await databaseCacheQuery(sql);
        const [totals] = await tablesTotalsQuery(sql, filters);
        const { value, locked } = await avoidingLocks(ctx, async (oids, sp) => ({
          perTable: await perTableQuery(sp, filters, oids),
          perIndex: await perIndexQuery(sp, filters, oids),
        }));
        const warnings: WarningDto[] = [];
        const skipped = [
          ...value.perTable.filter((t) => t.locked).map((t) => `${t.schema}.${t.table}`),
          ...value.perIndex.filter((i) => i.locked).map((i) => `${i.schema}.${i.index}`),
        ];
        if (skipped.length > 0) warnings.push(lockedWarning(skipped, locked));

        let buffers: BuffersDto | null = null;
        const ext = await ctx.extension('pg_buffercache');
        if (!ext) {
          warnings.push(
            warning(
              'EXTENSION_MISSING',
              `pg_buffercache is not created in database "${info.currentDatabase}": buffers is null.`,
              'CREATE EXTENSION pg_buffercache;',
            ),
          );
        } else {
          buffers = await ctx.optional(
            async (sp) => {
              const [b] = await bufferTotalsQuery(sp, ext.schema);
              const relations = await bufferRelationsQuery(
                sp,
                ext.schema,
                filters.limit,
                locked.map((l) => l.oid),
              );
              return {
                ...b,
                relations: relations.map(({ relationBytes, ...r }) => ({
                  ...r,
                  cachedRatio: relationBytes ? Math.min(1, r.bufferedBytes / relationBytes) : null,
                })),
              };
            },
            ['42501'],
            () => {
              warnings.push(
                warning(
                  'INSUFFICIENT_PRIVILEGE',
                  `Role "${info.currentUser}" may not read pg_buffercache: buffers is null.`,
                  `GRANT pg_monitor TO ${info.currentUser};`,
                ),
              );
              return null;
            },
          );
        }

        return {
          meta: buildMeta(info, started, warnings),
          statsReset: dbRow.statsReset?.toISOString() ?? null,
          database: {
            name: dbRow.name,
            blksHit: dbRow.blksHit,
            blksRead: dbRow.blksRead,
            hitRatio: this.ratio(dbRow.blksHit, dbRow.blksRead),
            status: this.status(dbRow.blksHit, dbRow.blksRead),
          },
          cluster: {
            blksHit: dbRow.clusterBlksHit,
            blksRead: dbRow.clusterBlksRead,
            hitRatio: this.ratio(dbRow.clusterBlksHit, dbRow.clusterBlksRead),
            status: this.status(dbRow.clusterBlksHit, dbRow.clusterBlksRead),
          },
          tables: {
            heapHitRatio: this.ratio(totals.heapBlksHit, totals.heapBlksRead),
            heapStatus: this.status(totals.heapBlksHit, totals.heapBlksRead),
            indexHitRatio: this.ratio(totals.idxBlksHit, totals.idxBlksRead),
            indexStatus: this.status(totals.idxBlksHit, totals.idxBlksRead),
            toastHitRatio: this.ratio(totals.toastBlksHit, totals.toastBlksRead),
            toastStatus: this.status(totals.toastBlksHit, totals.toastBlksRead),
            toastIndexHitRatio: this.ratio(totals.toastIdxBlksHit, totals.toastIdxBlksRead),
            toastIndexStatus: this.status(totals.toastIdxBlksHit, totals.toastIdxBlksRead),
            heapBlksHit: totals.heapBlksHit,
            heapBlksRead: totals.heapBlksRead,
            idxBlksHit: totals.idxBlksHit,
            idxBlksRead: totals.idxBlksRead,
            toastBlksHit: totals.toastBlksHit,
            toastBlksRead: totals.toastBlksRead,
          },
          perTable: value.perTable.map(({ locked: _l, ...t }) => ({
            schema: t.schema,
            table: t.table,
            heapBlksHit: t.heapBlksHit,
            heapBlksRead: t.heapBlksRead,
            heapHitRatio: this.ratio(t.heapBlksHit, t.heapBlksRead),
            heapStatus: this.status(t.heapBlksHit, t.heapBlksRead),
            idxBlksHit: t.idxBlksHit,
            idxBlksRead: t.idxBlksRead,
            idxHitRatio: this.ratio(t.idxBlksHit, t.idxBlksRead),
            idxStatus: this.status(t.idxBlksHit, t.idxBlksRead),
            toastBlksHit: t.toastBlksHit,
            toastBlksRead: t.toastBlksRead,
            toastHitRatio: this.ratio(t.toastBlksHit, t.toastBlksRead),
            toastStatus: this.status(t.toastBlksHit, t.toastBlksRead),
            sizeBytes: t.sizeBytes,
          })),
          perIndex: value.perIndex.map(({ locked: _l, ...i }) => ({
            ...i,
            hitRatio: this.ratio(i.idxBlksHit, i.idxBlksRead),
            status: this.status(i.idxBlksHit, i.idxBlksRead),
          })),
          buffers,
        };
      },
      { lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
    );
  }
}
