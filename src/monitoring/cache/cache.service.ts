import { Inject, Injectable } from '@nestjs/common';
import { buildMeta, warning, WarningDto } from '../shared/meta.dto';
import { Env } from '../../config/env';
import { DatabaseProvider } from '../../database/database.provider';
import { avoidingLocks, lockedWarning, SIZE_LOCK_TIMEOUT_MS } from '../shared/locks';
import { LockedRelation, relationSizesQuery, RelationSizeRow } from '../shared/relations.sql';
import { derived, SizesSnapshot, SlowFiguresRegistry } from '../shared/sizes';
import { Figures } from '../shared/slow-figures';
import { BuffersDto, CACHE_DEFAULTS, CacheQueryDto, CacheResponseDto, RatioStatus } from './cache.dto';
import { withDefaults } from '../../http/query';
import {
  buffersQuery,
  BuffersRow,
  CacheFigures,
  CacheFilters,
  cacheQuery,
  CacheRow,
  databaseCacheQuery,
  DatabaseCacheRow,
} from './cache.sql';

/** Relations listed in buffers.relations are read once for the largest page a request may ask for. */
const BUFFER_RELATIONS_MAX = 1000;

type BuffersFigures =
  { state: 'ok'; value: BuffersRow } | { state: 'missing'; database: string } | { state: 'denied'; user: string };

@Injectable()
export class CacheService {
  constructor(
    @Inject(Env) private readonly env: Env,
    private readonly slow: SlowFiguresRegistry,
  ) {}

  /**
   * The ratios and statuses of the counters, live or over a window: the part of the answer both have in common.
   */
  present(
    db: Pick<DatabaseCacheRow, 'name' | 'blksHit' | 'blksRead' | 'clusterBlksHit' | 'clusterBlksRead'>,
    value: CacheRow,
  ): Pick<CacheResponseDto, 'database' | 'cluster' | 'tables' | 'perTable' | 'perIndex'> {
    const { totals } = value;
    return {
      database: {
        name: db.name,
        blksHit: db.blksHit,
        blksRead: db.blksRead,
        hitRatio: this.ratio(db.blksHit, db.blksRead),
        status: this.status(db.blksHit, db.blksRead),
      },
      cluster: {
        blksHit: db.clusterBlksHit,
        blksRead: db.clusterBlksRead,
        hitRatio: this.ratio(db.clusterBlksHit, db.clusterBlksRead),
        status: this.status(db.clusterBlksHit, db.clusterBlksRead),
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
      perTable: value.perTable.map(({ locked: _l, oid: _o, ...t }) => ({
        ...t,
        heapHitRatio: this.ratio(t.heapBlksHit, t.heapBlksRead),
        heapStatus: this.status(t.heapBlksHit, t.heapBlksRead),
        idxHitRatio: this.ratio(t.idxBlksHit, t.idxBlksRead),
        idxStatus: this.status(t.idxBlksHit, t.idxBlksRead),
        toastHitRatio: this.ratio(t.toastBlksHit, t.toastBlksRead),
        toastStatus: this.status(t.toastBlksHit, t.toastBlksRead),
      })),
      perIndex: value.perIndex.map(({ locked: _l, oid: _o, ...i }) => ({
        ...i,
        hitRatio: this.ratio(i.idxBlksHit, i.idxBlksRead),
        status: this.status(i.idxBlksHit, i.idxBlksRead),
      })),
    };
  }

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

  /** pg_buffercache's view, at the slower cadence (it reads every buffer header); "missing" is asked again. */
  private buffers(db: DatabaseProvider): Promise<Figures<BuffersFigures>> {
    return this.slow.of(db).get<BuffersFigures>(
      'buffers',
      () =>
        db.read(
          'buffers',
          async (ctx) => {
            const ext = await ctx.extension('pg_buffercache');
            if (!ext) return { state: 'missing', database: ctx.info.currentDatabase };
            return ctx.optional<BuffersFigures>(
              async (sp) => {
                // Sizing the relations found in the buffers must not queue behind a migration's lock either.
                const { value } = await avoidingLocks({ ...ctx, sql: sp }, async (oids, sp2) =>
                  (await buffersQuery(sp2, ext.schema, BUFFER_RELATIONS_MAX, oids)).at(0),
                );
                return { state: 'ok', value: value as BuffersRow };
              },
              ['42501'],
              () => ({ state: 'denied', user: ctx.info.currentUser }),
            );
          },
          { statementTimeoutMs: this.slow.slowTimeoutMs, lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
        ),
      (figures) => figures.state !== 'missing',
    );
  }

  private readonly derivedFigures = new WeakMap<SizesSnapshot, Map<undefined, CacheFigures>>();

  async getCache(db: DatabaseProvider, query: CacheQueryDto): Promise<CacheResponseDto> {
    const started = performance.now();
    const filters: CacheFilters = withDefaults(CACHE_DEFAULTS, query);
    const sizes = await this.slow.sizes(db);
    const buffers = await this.buffers(db);
    const figures = derived(this.derivedFigures, sizes.value, undefined, (): CacheFigures =>
      [...sizes.value.sizes.values()].map((s) => [Number(s.oid), s.kind === 'table' ? s.totalBytes : s.bytes]),
    );
    return db.read(
      'cache',
      async (ctx) => {
        const { sql, info } = ctx;
        const [dbRow] = await databaseCacheQuery(sql);
        let value: CacheRow;
        let locked: LockedRelation[] = [];
        if (filters.orderBy === 'size') {
          ({ value, locked } = await avoidingLocks(
            ctx,
            async (oids, sp) => (await cacheQuery(sp, filters, oids, figures))[0],
          ));
        } else {
          // No relation is opened: the page's sizes come from the snapshot, and only relations created since it was
          // read are sized now (never behind a lock).
          [value] = await cacheQuery(sql, filters, [], undefined);
          const known = sizes.value.sizes;
          const fresh = [...value.perTable, ...value.perIndex].map((r) => Number(r.oid)).filter((o) => !known.has(o));
          const now = new Map<number, RelationSizeRow>();
          if (fresh.length > 0) {
            const live = await avoidingLocks(ctx, (oids, sp) => relationSizesQuery(sp, oids, fresh));
            for (const r of live.value) now.set(Number(r.oid), r);
            locked = live.locked;
          }
          const sizeOf = (oid: number, field: 'bytes' | 'totalBytes') =>
            (known.get(Number(oid)) ?? now.get(Number(oid)))?.[field] ?? null;
          for (const r of value.perTable) r.sizeBytes = sizeOf(r.oid, 'totalBytes');
          for (const r of value.perIndex) r.sizeBytes = sizeOf(r.oid, 'bytes');
        }
        const warnings: WarningDto[] = [];
        const skipped = [
          ...value.perTable.filter((t) => t.sizeBytes === null).map((t) => `${t.schema}.${t.table}`),
          ...value.perIndex.filter((i) => i.sizeBytes === null).map((i) => `${i.schema}.${i.index}`),
        ];
        if (skipped.length > 0) warnings.push(lockedWarning(skipped, [...locked, ...sizes.value.locked]));

        let buffersDto: BuffersDto | null = null;
        const b = buffers.value;
        if (b.state === 'missing') {
          warnings.push(
            warning(
              'EXTENSION_MISSING',
              `pg_buffercache is not created in database "${b.database}": buffers is null.`,
              'CREATE EXTENSION pg_buffercache;',
            ),
          );
        } else if (b.state === 'denied') {
          warnings.push(
            warning(
              'INSUFFICIENT_PRIVILEGE',
              `Role "${b.user}" may not read pg_buffercache: buffers is null.`,
              `GRANT pg_monitor TO ${b.user};`,
            ),
          );
        } else {
          buffersDto = {
            ...b.value.totals,
            collectedAt: buffers.collectedAt.toISOString(),
            relations: b.value.relations.slice(0, filters.limit).map(({ relationBytes, ...r }) => ({
              ...r,
              cachedRatio: relationBytes ? Math.min(1, r.bufferedBytes / relationBytes) : null,
            })),
          };
        }

        return {
          meta: buildMeta(info, started, warnings),
          statsReset: dbRow.statsReset?.toISOString() ?? null,
          sizesCollectedAt: sizes.collectedAt.toISOString(),
          ...this.present(dbRow, value),
          buffers: buffersDto,
        };
      },
      { lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
    );
  }
}
