import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { EmbeddedPostgres } from '../../src/embedded/embedded';

/**
 * A streaming standby of `primary`, made as the shipped binaries allow (initdb, pg_ctl and postgres only: no
 * pg_basebackup): a copy of the primary's data directory taken inside the low-level backup API
 * (pg_backup_start/stop on 15+, pg_start_backup/pg_stop_backup non-exclusive before), its backup_label written from
 * what the stop returned (not waiting for archiving: the copy streams what it lacks), plus standby.signal and primary_conninfo (streaming through `slot`).
 */
export async function startStandby(
  primary: EmbeddedPostgres,
  options: { slot: string; applicationName: string; settings?: Record<string, string | number | boolean> },
): Promise<EmbeddedPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgscope-standby${primary.major}-`));
  const source = path.join(primary.dataDir, 'data');
  const target = path.join(dir, 'data');
  const sql = postgres(primary.url(), { max: 1, onnotice: () => undefined });
  try {
    const label = await sql.begin(async (tx) => {
      if (primary.major >= 15) await tx`select pg_backup_start('pgscope-standby', true)`;
      else await tx`select pg_start_backup('pgscope-standby', true, false)`;
      fs.cpSync(source, target, {
        recursive: true,
        // Not the primary's slots (the backup API's own advice), nor its lock and log files.
        filter: (src) =>
          !/postmaster\.(pid|opts)$/.test(src) &&
          !src.endsWith('server.log') &&
          !src.startsWith(`${path.join(source, 'pg_replslot')}${path.sep}`),
      });
      const [row] =
        primary.major >= 15
          ? await tx<{ labelfile: string }[]>`select labelfile from pg_backup_stop(false)`
          : await tx<{ labelfile: string }[]>`select labelfile from pg_stop_backup(false, false)`;
      return row.labelfile;
    });
    fs.writeFileSync(path.join(target, 'backup_label'), label);
  } finally {
    await sql.end();
  }
  fs.writeFileSync(path.join(target, 'standby.signal'), '');
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=${primary.password} application_name=${options.applicationName}`;
  fs.appendFileSync(
    path.join(target, 'postgresql.auto.conf'),
    `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${options.slot}'\n`,
  );
  fs.writeFileSync(path.join(dir, 'password'), `${primary.password}\n`, { mode: 0o600 });
  // The copy belongs to whoever runs the server (the postgres OS user when we are root).
  if (process.getuid?.() === 0) {
    const stat = fs.statSync(source);
    chownTree(dir, stat.uid, stat.gid);
  }
  fs.chmodSync(target, 0o700);
  return EmbeddedPostgres.start({ major: primary.major, dataDir: dir, settings: options.settings });
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.chownSync(p, uid, gid);
  if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

/** Stops a standby made by startStandby() and removes its directory (start() keeps a given dataDir). */
export async function removeStandby(standby: EmbeddedPostgres | undefined): Promise<void> {
  if (!standby) return;
  await standby.stop();
  fs.rmSync(standby.dataDir, { recursive: true, force: true });
}
