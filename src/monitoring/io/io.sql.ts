import { Tx } from '../../database/database.provider';
import { forVersions } from '../../database/pg-version';

export interface IoRow {
  backendType: string;
  object: string;
  context: string;
  reads: number | null;
  readTimeMs: number | null;
  readBytes: number | null;
  writes: number | null;
  writeTimeMs: number | null;
  writeBytes: number | null;
  writebacks: number | null;
  writebackTimeMs: number | null;
  extends: number | null;
  extendTimeMs: number | null;
  extendBytes: number | null;
  hits: number | null;
  evictions: number | null;
  reuses: number | null;
  fsyncs: number | null;
  fsyncTimeMs: number | null;
  statsReset: Date | null;
}

/**
 * pg_stat_io (16+), keyed on (backend_type, object, context), never on row position (18 adds rows). Bytes: 18
 * reports them per operation; 16/17 have op_bytes (the block size) per row, so bytes = operations × op_bytes.
 */
export function ioQuery(sql: Tx, major: number) {
  const bytes = forVersions(major, {
    16: sql`(i.reads * i.op_bytes)::int8 as "readBytes", (i.writes * i.op_bytes)::int8 as "writeBytes",
            (i.extends * i.op_bytes)::int8 as "extendBytes"`,
    18: sql`i.read_bytes::int8 as "readBytes", i.write_bytes::int8 as "writeBytes", i.extend_bytes::int8 as "extendBytes"`,
  });
  return sql<IoRow[]>`
    select /* pgscope */ i.backend_type as "backendType", i.object, i.context,
           i.reads::int8 as reads, i.read_time::float8 as "readTimeMs",
           i.writes::int8 as writes, i.write_time::float8 as "writeTimeMs",
           i.writebacks::int8 as writebacks, i.writeback_time::float8 as "writebackTimeMs",
           i.extends::int8 as extends, i.extend_time::float8 as "extendTimeMs",
           i.hits::int8 as hits, i.evictions::int8 as evictions, i.reuses::int8 as reuses,
           i.fsyncs::int8 as fsyncs, i.fsync_time::float8 as "fsyncTimeMs", i.stats_reset as "statsReset",
           ${bytes}
      from pg_catalog.pg_stat_io i
     order by i.backend_type, i.object, i.context
     limit 1000`;
}

export interface CheckpointRow {
  timed: number;
  requested: number;
  done: number | null;
  writeTimeMs: number;
  syncTimeMs: number;
  buffersWritten: number;
  buffersClean: number;
  maxwrittenClean: number;
  buffersAlloc: number;
  buffersBackend: number | null;
  buffersBackendFsync: number | null;
  checkpointerStatsReset: Date | null;
  bgwriterStatsReset: Date | null;
}

/** Checkpoints and the background writer, one schema: pg_stat_checkpointer on 17+, pg_stat_bgwriter before. */
export function checkpointsQuery(sql: Tx, major: number) {
  return forVersions(major, {
    13: () => sql<CheckpointRow[]>`
      select /* pgscope */ checkpoints_timed::int8 as timed, checkpoints_req::int8 as requested, null::int8 as done,
             checkpoint_write_time::float8 as "writeTimeMs", checkpoint_sync_time::float8 as "syncTimeMs",
             buffers_checkpoint::int8 as "buffersWritten", buffers_clean::int8 as "buffersClean",
             maxwritten_clean::int8 as "maxwrittenClean", buffers_alloc::int8 as "buffersAlloc",
             buffers_backend::int8 as "buffersBackend", buffers_backend_fsync::int8 as "buffersBackendFsync",
             stats_reset as "checkpointerStatsReset", stats_reset as "bgwriterStatsReset"
        from pg_catalog.pg_stat_bgwriter`,
    17: () => sql<CheckpointRow[]>`
      select /* pgscope */ c.num_timed::int8 as timed, c.num_requested::int8 as requested,
             ${major >= 18 ? sql`c.num_done::int8` : sql`null::int8`} as done,
             c.write_time::float8 as "writeTimeMs", c.sync_time::float8 as "syncTimeMs",
             c.buffers_written::int8 as "buffersWritten", b.buffers_clean::int8 as "buffersClean",
             b.maxwritten_clean::int8 as "maxwrittenClean", b.buffers_alloc::int8 as "buffersAlloc",
             null::int8 as "buffersBackend", null::int8 as "buffersBackendFsync",
             c.stats_reset as "checkpointerStatsReset", b.stats_reset as "bgwriterStatsReset"
        from pg_catalog.pg_stat_checkpointer c cross join pg_catalog.pg_stat_bgwriter b`,
  })();
}

export interface WalRow {
  records: number;
  fullPageImages: number;
  bytes: number;
  buffersFull: number;
  writes: number | null;
  syncs: number | null;
  writeTimeMs: number | null;
  syncTimeMs: number | null;
  statsReset: Date | null;
}

/** pg_stat_wal (14+); on 18 its write and sync counts and times are pg_stat_io's object 'wal' rows. */
export function walQuery(sql: Tx, major: number) {
  return forVersions(major, {
    14: () => sql<WalRow[]>`
      select /* pgscope */ wal_records::int8 as records, wal_fpi::int8 as "fullPageImages", wal_bytes::int8 as bytes,
             wal_buffers_full::int8 as "buffersFull", wal_write::int8 as writes, wal_sync::int8 as syncs,
             wal_write_time::float8 as "writeTimeMs", wal_sync_time::float8 as "syncTimeMs", stats_reset as "statsReset"
        from pg_catalog.pg_stat_wal`,
    18: () => sql<WalRow[]>`
      select /* pgscope */ w.wal_records::int8 as records, w.wal_fpi::int8 as "fullPageImages",
             w.wal_bytes::int8 as bytes, w.wal_buffers_full::int8 as "buffersFull",
             i.writes, i.syncs, i."writeTimeMs", i."syncTimeMs", w.stats_reset as "statsReset"
        from pg_catalog.pg_stat_wal w
        cross join (select sum(writes)::int8 as writes, sum(fsyncs)::int8 as syncs,
                           sum(write_time)::float8 as "writeTimeMs", sum(fsync_time)::float8 as "syncTimeMs"
                      from pg_catalog.pg_stat_io where object = 'wal') i`,
  })();
}

export interface DatabaseIoRow {
  name: string;
  tempFiles: number;
  tempBytes: number;
  deadlocks: number;
  conflicts: number;
  checksumFailures: number | null;
  checksumLastFailure: Date | null;
  conflictsTablespace: number | null;
  conflictsLock: number | null;
  conflictsSnapshot: number | null;
  conflictsBufferpin: number | null;
  conflictsDeadlock: number | null;
  conflictsLogicalSlot: number | null;
}

/** Per database: temp files, deadlocks, recovery conflicts (by kind) and checksum failures. */
export function databasesIoQuery(sql: Tx, major: number) {
  const slot = forVersions(major, { 13: sql`null::int8`, 16: sql`c.confl_active_logicalslot::int8` });
  return sql<DatabaseIoRow[]>`
    select /* pgscope */ d.datname as name, d.temp_files::int8 as "tempFiles", d.temp_bytes::int8 as "tempBytes",
           d.deadlocks::int8 as deadlocks, d.conflicts::int8 as conflicts,
           d.checksum_failures::int8 as "checksumFailures", d.checksum_last_failure as "checksumLastFailure",
           c.confl_tablespace::int8 as "conflictsTablespace", c.confl_lock::int8 as "conflictsLock",
           c.confl_snapshot::int8 as "conflictsSnapshot", c.confl_bufferpin::int8 as "conflictsBufferpin",
           c.confl_deadlock::int8 as "conflictsDeadlock", ${slot} as "conflictsLogicalSlot"
      from pg_catalog.pg_stat_database d
      left join pg_catalog.pg_stat_database_conflicts c on c.datid = d.datid
     where d.datname is not null
     order by d.datname
     limit 10000`;
}
