import fs from 'node:fs';
import path from 'node:path';
import type postgres from 'postgres';

/** The numbered SQL files beside this module (copied to dist by `nest build`: nest-cli.json assets). */
export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** 0001_initial.sql, 0002_… in order. */
export function migrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f, sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

export class StoreTooNewError extends Error {}

/**
 * Applies the migrations not yet recorded, in one transaction under an advisory lock (several instances
 * starting on one store apply each once). A store whose highest version is beyond this pgscope's is refused,
 * never altered: it was written by a newer pgscope.
 */
export async function migrate(sql: postgres.Sql, known = migrations()): Promise<number> {
  const latest = Math.max(0, ...known.map((m) => m.version));
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(7406711)`;
    await tx`create table if not exists pgscope_migrations (
               version integer primary key, name text not null, applied_at timestamptz not null default now())`;
    const [{ max }] = await tx<{ max: number | null }[]>`select max(version) as max from pgscope_migrations`;
    if ((max ?? 0) > latest) {
      throw new StoreTooNewError(
        `the history store is at version ${max}, written by a newer pgscope (this one knows up to ${latest}): ` +
          'pgscope does not alter it; upgrade pgscope, or point HISTORY_DIR / HISTORY_DATABASE_URL at another store',
      );
    }
    for (const m of known.filter((m) => m.version > (max ?? 0))) {
      await tx.unsafe(m.sql);
      await tx`insert into pgscope_migrations (version, name) values (${m.version}, ${m.name})`;
    }
    return latest;
  });
}
