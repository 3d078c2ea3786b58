import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { DatabaseProvider } from '../../database/database.provider';
import { Family, FamilySnapshot, insertRows, WriteContext } from '../../history/family';
import { lifetimeOf } from '../../history/lifetime.sql';
import { StoreSql } from '../../history/store';
import { BloatService } from '../bloat/bloat.service';
import { databaseSizeQuery } from '../overview/overview.sql';
import { avoidingLocks, SIZE_LOCK_TIMEOUT_MS } from './locks';
import { relationSizesQuery } from './relations.sql';
import { SlowFiguresRegistry } from './sizes';

/**
 * Sizes of one database and of its relations, with the bloat estimate's reclaimable bytes, every
 * HISTORY_SIZES_INTERVAL: levels, stored for a relation when they changed since its previous row (relid 0: the
 * database). Relations under an ACCESS EXCLUSIVE lock are skipped, as everywhere.
 */
@Injectable()
export class SizesSnapshot implements Family<null> {
  readonly name = 'sizes' as const;
  readonly perDatabase = true;
  readonly reset = 'stats_reset' as const;
  readonly levels = true;

  constructor(
    @Inject(Env) private readonly env: Env,
    private readonly bloat: BloatService,
    private readonly slow: SlowFiguresRegistry,
  ) {}

  intervalMs(): number {
    return this.env.HISTORY_SIZES_INTERVAL;
  }

  async read(db: DatabaseProvider): Promise<FamilySnapshot<null>> {
    return db.read(
      'history-sizes',
      async (ctx) => {
        const { value: sizes } = await avoidingLocks(ctx, (oids, sql) => relationSizesQuery(sql, oids));
        const byOid = new Map(sizes.map((r) => [Number(r.oid), r]));
        const estimates = await this.bloat.estimate(ctx, byOid);
        const [database] = await databaseSizeQuery(ctx.sql);
        const [self] = await ctx.sql<{ dbid: number }[]>`
          select /* pgscope */ oid::int8 as dbid from pg_catalog.pg_database where datname = current_database()`;
        const { at, lifetime, serverVersion } = await lifetimeOf(ctx, null);
        const reclaimable = (oid: number) =>
          (estimates.tables.get(oid) ?? estimates.indexes.get(oid))?.reclaimableBytes ?? -1;
        return {
          at,
          serverVersion,
          dbid: Number(self.dbid),
          lifetime,
          samples: [
            { key: '0', counters: [database.bytes ?? -1, -1, -1] },
            ...sizes.map((r) => ({
              key: String(r.oid),
              counters: [r.bytes ?? -1, r.totalBytes ?? -1, reclaimable(Number(r.oid))],
            })),
          ],
          extra: null,
        };
      },
      { statementTimeoutMs: this.slow.slowTimeoutMs, lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
    );
  }

  async write(tx: StoreSql, ctx: WriteContext<null>): Promise<number> {
    // -1 stands for unknown in the samples (so that "unknown" is a level too); it is NULL in the store.
    const level = (v: number) => (v < 0 ? null : v);
    const changed = ctx.snapshot.samples.filter((s) => {
      const before = ctx.previous?.get(s.key);
      return !before || before.counters.some((c, i) => c !== s.counters[i]);
    });
    await insertRows(
      tx,
      'relation_sizes',
      {
        at: 'timestamptz',
        target_id: 'smallint',
        dbid: 'oid',
        relid: 'oid',
        bytes: 'bigint',
        total_bytes: 'bigint',
        reclaimable_bytes: 'bigint',
      },
      changed.map((s) => ({
        at: ctx.at,
        target_id: ctx.targetId,
        dbid: ctx.dbid,
        relid: Number(s.key),
        bytes: level(s.counters[0]),
        total_bytes: level(s.counters[1]),
        reclaimable_bytes: level(s.counters[2]),
      })),
    );
    return changed.length;
  }
}
