import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';

export interface RoleRow {
  inRecovery: boolean;
  currentLsn: string | null;
  archiveMode: string;
}

/** The timeline, from pg_control (pg_monitor or superuser, else a 42501 the caller turns into null). */
export function timelineQuery(sql: Tx) {
  return sql<
    { timeline: number }[]
  >`select /* pgscope */ timeline_id as timeline from pg_catalog.pg_control_checkpoint()`;
}

/** Primary or standby, and its WAL position (the primary's insert position, a standby's replay). */
export function roleQuery(sql: Tx) {
  return sql<RoleRow[]>`
    select /* pgscope */ pg_catalog.pg_is_in_recovery() as "inRecovery",
           (case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
                 else pg_catalog.pg_current_wal_lsn() end)::text as "currentLsn",
           current_setting('archive_mode') as "archiveMode"`;
}

export interface StandbyRow {
  pid: number;
  applicationName: string | null;
  clientAddr: string | null;
  state: string | null;
  syncState: string | null;
  syncPriority: number | null;
  sentLsn: string | null;
  writeLsn: string | null;
  flushLsn: string | null;
  replayLsn: string | null;
  sentLagBytes: number | null;
  writeLagBytes: number | null;
  flushLagBytes: number | null;
  replayLagBytes: number | null;
  writeLagMs: number | null;
  flushLagMs: number | null;
  replayLagMs: number | null;
  replyTime: Date | null;
  replyAgeMs: number | null;
  backendXminAge: number | null;
}

/**
 * pg_stat_replication on a primary: each standby's positions, the bytes between each and the current WAL position,
 * and the lag times as PostgreSQL measures them (null when it does not know: never a clock difference).
 */
export function standbysQuery(sql: Tx) {
  const ms = (col: string) => sql.unsafe(`(extract(epoch from r.${col}) * 1000)::float8`);
  return sql<StandbyRow[]>`
    select /* pgscope */ r.pid, r.application_name as "applicationName", host(r.client_addr) as "clientAddr",
           r.state, r.sync_state as "syncState", r.sync_priority as "syncPriority",
           r.sent_lsn::text as "sentLsn", r.write_lsn::text as "writeLsn", r.flush_lsn::text as "flushLsn",
           r.replay_lsn::text as "replayLsn",
           pg_catalog.pg_wal_lsn_diff(c.lsn, r.sent_lsn)::int8 as "sentLagBytes",
           pg_catalog.pg_wal_lsn_diff(c.lsn, r.write_lsn)::int8 as "writeLagBytes",
           pg_catalog.pg_wal_lsn_diff(c.lsn, r.flush_lsn)::int8 as "flushLagBytes",
           pg_catalog.pg_wal_lsn_diff(c.lsn, r.replay_lsn)::int8 as "replayLagBytes",
           ${ms('write_lag')} as "writeLagMs", ${ms('flush_lag')} as "flushLagMs", ${ms('replay_lag')} as "replayLagMs",
           r.reply_time as "replyTime",
           (extract(epoch from clock_timestamp() - r.reply_time) * 1000)::float8 as "replyAgeMs",
           age(r.backend_xmin)::int8 as "backendXminAge"
      from pg_catalog.pg_stat_replication r
      cross join (select pg_catalog.pg_current_wal_lsn() as lsn) c
     order by r.application_name, r.pid
     limit 1000`;
}

export interface ReceiverRow {
  receivedLsn: string | null;
  replayedLsn: string | null;
  lagBytes: number | null;
  replayPaused: boolean;
  lastReplayAt: Date | null;
  sinceLastReplayMs: number | null;
  status: string | null;
  senderHost: string | null;
  senderPort: number | null;
  slotName: string | null;
  lastMsgSendTime: Date | null;
  lastMsgReceiptTime: Date | null;
  latestEndLsn: string | null;
  latestEndTime: Date | null;
}

/** On a standby: what it received and replayed, the WAL receiver, and the time of the last replayed transaction. */
export function receiverQuery(sql: Tx, major: number) {
  const paused = forVersions(major, {
    13: sql`pg_catalog.pg_is_wal_replay_paused()`,
    14: sql`pg_catalog.pg_get_wal_replay_pause_state() <> 'not paused'`,
  });
  return sql<ReceiverRow[]>`
    select /* pgscope */ pg_catalog.pg_last_wal_receive_lsn()::text as "receivedLsn",
           pg_catalog.pg_last_wal_replay_lsn()::text as "replayedLsn",
           greatest(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn()), 0)::int8
             as "lagBytes",
           ${paused} as "replayPaused",
           pg_catalog.pg_last_xact_replay_timestamp() as "lastReplayAt",
           (extract(epoch from clock_timestamp() - pg_catalog.pg_last_xact_replay_timestamp()) * 1000)::float8
             as "sinceLastReplayMs",
           w.status, w.sender_host as "senderHost", w.sender_port as "senderPort", w.slot_name as "slotName",
           w.last_msg_send_time as "lastMsgSendTime", w.last_msg_receipt_time as "lastMsgReceiptTime",
           w.latest_end_lsn::text as "latestEndLsn", w.latest_end_time as "latestEndTime"
      from (select 1) one
      left join pg_catalog.pg_stat_wal_receiver w on true
     limit 1`;
}

export interface SlotRow {
  name: string;
  type: string;
  plugin: string | null;
  database: string | null;
  active: boolean;
  activePid: number | null;
  walStatus: string | null;
  safeWalSizeBytes: number | null;
  restartLsn: string | null;
  retainedBytes: number | null;
  xminAge: number | null;
  catalogXminAge: number | null;
  inactiveSince: Date | null;
  conflicting: boolean | null;
  invalidationReason: string | null;
}

/**
 * Replication slots: what each retains (the WAL from its restart_lsn to the current position), its state, and
 * what it holds of the xmin horizon. Inactive slots retaining WAL first, then by bytes retained.
 */
export function slotsQuery(sql: Tx, major: number) {
  const conflicting = forVersions(major, { 13: sql`null::bool`, 16: sql`s.conflicting` });
  const since = forVersions(major, { 13: sql`null::timestamptz`, 17: sql`s.inactive_since` });
  const reason = forVersions(major, { 13: sql`null::text`, 17: sql`s.invalidation_reason` });
  return sql<SlotRow[]>`
    select /* pgscope */ * from (
      select s.slot_name::text as name, s.slot_type as type, s.plugin::text as plugin, s.database::text as database,
             s.active, s.active_pid as "activePid", s.wal_status as "walStatus",
             s.safe_wal_size::int8 as "safeWalSizeBytes", s.restart_lsn::text as "restartLsn",
             pg_catalog.pg_wal_lsn_diff(
               case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_receive_lsn()
                    else pg_catalog.pg_current_wal_lsn() end, s.restart_lsn)::int8 as "retainedBytes",
             age(s.xmin)::int8 as "xminAge", age(s.catalog_xmin)::int8 as "catalogXminAge",
             ${since} as "inactiveSince", ${conflicting} as conflicting, ${reason} as "invalidationReason"
        from pg_catalog.pg_replication_slots s
    ) q
    order by (not active and "retainedBytes" > 0) desc, "retainedBytes" desc nulls last, name
    limit 1000`;
}

export interface ArchiverRow {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedTime: Date | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedTime: Date | null;
  statsReset: Date | null;
}

export function archiverQuery(sql: Tx) {
  return sql<ArchiverRow[]>`
    select /* pgscope */ archived_count::int8 as "archivedCount", last_archived_wal as "lastArchivedWal",
           last_archived_time as "lastArchivedTime", failed_count::int8 as "failedCount",
           last_failed_wal as "lastFailedWal", last_failed_time as "lastFailedTime", stats_reset as "statsReset"
      from pg_catalog.pg_stat_archiver`;
}
