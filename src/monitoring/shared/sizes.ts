import { Inject, Injectable } from '@nestjs/common';
import { Env } from '../../config/env';
import { DatabaseProvider } from '../../database/database.provider';
import { avoidingLocks, SIZE_LOCK_TIMEOUT_MS } from './locks';
import { LockedRelation, relationSizesQuery, RelationSizeRow } from './relations.sql';
import { Figures, SlowFigures } from './slow-figures';

export interface SizesSnapshot {
  sizes: Map<number, RelationSizeRow>;
  /** Relations under an ACCESS EXCLUSIVE lock when the sizes were read: their sizes are null. */
  locked: LockedRelation[];
}

/**
 * A value derived from one or two snapshots, made once per pair of them (they change once per cadence, requests
 * are many): what a request passes to SQL is then built once, not per request.
 */
export function derived<A extends object, B extends object | undefined, T>(
  cache: WeakMap<A, Map<B, T>>,
  a: A,
  b: B,
  make: () => T,
): T {
  let byB = cache.get(a);
  if (!byB) {
    byB = new Map();
    cache.set(a, byB);
  }
  let value = byB.get(b);
  if (value === undefined) {
    // One entry per a: the previous b's value is dropped when b changes.
    byB.clear();
    value = make();
    byB.set(b, value);
  }
  return value;
}

/** The slow figures of each watched database (one DatabaseProvider each), read at most once per SIZES_MAX_AGE_MS. */
@Injectable()
export class SlowFiguresRegistry {
  private readonly byDatabase = new WeakMap<DatabaseProvider, SlowFigures>();

  constructor(@Inject(Env) private readonly env: Env) {}

  of(db: DatabaseProvider): SlowFigures {
    let figures = this.byDatabase.get(db);
    if (!figures) {
      figures = new SlowFigures(this.env.SIZES_MAX_AGE_MS);
      this.byDatabase.set(db, figures);
    }
    return figures;
  }

  /** Statement timeout of a slow read: it covers the whole catalogue, so it gets more than a request. */
  get slowTimeoutMs(): number {
    return Math.max(this.env.QUERY_TIMEOUT_MS, 30_000);
  }

  /** Every user relation's size in this database. */
  sizes(db: DatabaseProvider): Promise<Figures<SizesSnapshot>> {
    return this.of(db).get('sizes', () =>
      db.read(
        'sizes',
        async (ctx) => {
          const { value, locked } = await avoidingLocks(ctx, (oids, sql) => relationSizesQuery(sql, oids));
          return { sizes: new Map(value.map((r) => [Number(r.oid), r])), locked };
        },
        { statementTimeoutMs: this.slowTimeoutMs, lockTimeoutMs: SIZE_LOCK_TIMEOUT_MS },
      ),
    );
  }
}
