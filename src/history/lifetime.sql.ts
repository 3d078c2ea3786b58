import { ReadContext } from '../database/database.provider';
import { Lifetime } from './deltas';

/**
 * The moment of a snapshot on the watched server's clock, and what identifies the lifetime of its counters: the
 * postmaster's start, the system identifier and the timeline (pg_control_*: pg_monitor may read them; null where a
 * role may not).
 */
export async function lifetimeOf(
  ctx: ReadContext,
  statsReset: string | null,
): Promise<{ at: Date; lifetime: Lifetime; serverVersion: string }> {
  const [row] = await ctx.sql<{ at: Date; postmasterStart: Date; serverVersion: string }[]>`
    select /* pgscope */ statement_timestamp() as at, pg_catalog.pg_postmaster_start_time() as "postmasterStart",
           current_setting('server_version') as "serverVersion"`;
  const control = await ctx.optional<{ systemId: string | null; timeline: number | null }>(
    async (sp) =>
      (
        await sp<{ systemId: string; timeline: number }[]>`
          select /* pgscope */ (select system_identifier::text from pg_catalog.pg_control_system()) as "systemId",
                 (select timeline_id from pg_catalog.pg_control_checkpoint()) as timeline`
      )[0],
    ['42501'],
    () => ({ systemId: null, timeline: null }),
  );
  return {
    at: row.at,
    serverVersion: row.serverVersion,
    lifetime: {
      postmasterStart: row.postmasterStart.toISOString(),
      systemId: control.systemId,
      timeline: control.timeline,
      statsReset,
    },
  };
}
