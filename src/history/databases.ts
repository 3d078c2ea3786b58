import { Target } from '../targets/target';
import { HistoryStore } from './store';

/**
 * The store's oid of a database of a target, by name: the newest per-database snapshot of it. A name the store has
 * not seen is looked up on the target (a 404 DATABASE_NOT_FOUND if it has no such database); undefined then means
 * "no history yet", an empty window rather than an error.
 */
export async function databaseOid(
  store: HistoryStore,
  target: Target,
  name: string | undefined,
): Promise<{
  datname: string;
  dbid: number | undefined;
}> {
  const datname = name ?? target.defaultDatabase;
  const targetId = await store.targetId(target.name);
  const [row] = await store.read(
    (sql) => sql<{ dbid: number }[]>`
      select dbid::int8 as dbid from snapshots
       where target_id = ${targetId} and family in ('relations', 'sizes') and datname = ${datname}
       order by at desc limit 1`,
  );
  if (row) return { datname, dbid: Number(row.dbid) };
  await target.database(name);
  return { datname, dbid: undefined };
}
