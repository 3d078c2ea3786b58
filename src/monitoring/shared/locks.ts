import { warning, WarningDto } from './meta.dto';
import { ReadContext, Tx } from '../../database/database.provider';
import { LockedRelation, lockedRelationsQuery } from './relations.sql';

/** Size functions give up this fast on a lock taken after pgscope looked at pg_locks (then it looks again). */
export const SIZE_LOCK_TIMEOUT_MS = 200;

/**
 * Runs `collect` (with a savepoint's tag, which its queries must use) knowing the relations under ACCESS
 * EXCLUSIVE locks. If one was locked in between (lock_timeout
 * in a savepoint), it reads the locks again and retries once, so a migration never makes the answer wait.
 */
export async function avoidingLocks<T>(
  ctx: ReadContext,
  collect: (locked: number[], sql: Tx) => Promise<T>,
): Promise<{ value: T; locked: LockedRelation[] }> {
  for (let attempt = 0; ; attempt++) {
    const locked = await lockedRelationsQuery(ctx.sql);
    const value = await ctx.optional(
      (sql) =>
        collect(
          locked.map((l) => l.oid),
          sql,
        ),
      attempt === 0 ? ['55P03'] : [],
      () => undefined,
    );
    if (value !== undefined) return { value, locked };
  }
}

/** The warning for relations whose lock-needing figures (sizes, definitions) were skipped. */
export function lockedWarning(skipped: string[], locked: LockedRelation[]): WarningDto {
  return warning(
    'RELATION_LOCKED',
    `Skipped sizes of relations under an ACCESS EXCLUSIVE lock (a migration, VACUUM FULL, REINDEX…): ` +
      `${[...new Set(skipped)].join(', ')}. Locked now: ${locked.map((l) => `${l.schema}.${l.name}`).join(', ')}.`,
    'Their other figures are shown; the skipped ones come back once the lock is released.',
  );
}
