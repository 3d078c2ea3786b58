import { Injectable } from '@nestjs/common';
import { DatabaseProvider } from '../../database/database.provider';
import { buildMeta } from '../shared/meta.dto';
import { IoResponseDto, IoStatDto, IoSummaryDto } from './io.dto';
import { checkpointsQuery, databasesIoQuery, ioQuery, IoRow, walQuery } from './io.sql';

const iso = (d: Date | null) => d?.toISOString() ?? null;
const n = (v: number | string | null) => (v === null ? null : Number(v));
const round = (v: number) => Math.round(v * 10000) / 10000;

/** Where the server's I/O goes: pg_stat_io (16+) with a summary, checkpoints, WAL and per-database figures. */
@Injectable()
export class IoService {
  async getIo(db: DatabaseProvider): Promise<IoResponseDto> {
    const started = performance.now();
    return db.read('io', async ({ sql, info }) => {
      const major = info.major;
      const io = major >= 16 ? await ioQuery(sql, major) : null;
      const [c] = await checkpointsQuery(sql, major);
      const [w] = major >= 14 ? await walQuery(sql, major) : [];
      const databases = await databasesIoQuery(sql, major);
      return {
        meta: buildMeta(info, started),
        summary: io ? summarise(io) : null,
        io: io ? io.map(presentIo) : null,
        ioUnavailable: io ? null : `pg_stat_io needs PostgreSQL 16 or later (this server is ${major})`,
        checkpoints: {
          timed: Number(c.timed),
          requested: Number(c.requested),
          done: n(c.done),
          writeTimeMs: Number(c.writeTimeMs),
          syncTimeMs: Number(c.syncTimeMs),
          buffersWritten: Number(c.buffersWritten),
          buffersClean: Number(c.buffersClean),
          maxwrittenClean: Number(c.maxwrittenClean),
          buffersAlloc: Number(c.buffersAlloc),
          buffersBackend: n(c.buffersBackend),
          buffersBackendFsync: n(c.buffersBackendFsync),
          checkpointerStatsReset: iso(c.checkpointerStatsReset),
          bgwriterStatsReset: iso(c.bgwriterStatsReset),
        },
        wal: w
          ? {
              records: Number(w.records),
              fullPageImages: Number(w.fullPageImages),
              bytes: Number(w.bytes),
              buffersFull: Number(w.buffersFull),
              writes: n(w.writes),
              syncs: n(w.syncs),
              writeTimeMs: n(w.writeTimeMs),
              syncTimeMs: n(w.syncTimeMs),
              statsReset: iso(w.statsReset),
            }
          : null,
        databases: databases.map((d) => ({
          name: d.name,
          tempFiles: Number(d.tempFiles),
          tempBytes: Number(d.tempBytes),
          deadlocks: Number(d.deadlocks),
          conflicts: Number(d.conflicts),
          checksumFailures: n(d.checksumFailures),
          checksumLastFailure: iso(d.checksumLastFailure),
          conflictsTablespace: n(d.conflictsTablespace),
          conflictsLock: n(d.conflictsLock),
          conflictsSnapshot: n(d.conflictsSnapshot),
          conflictsBufferpin: n(d.conflictsBufferpin),
          conflictsDeadlock: n(d.conflictsDeadlock),
          conflictsLogicalSlot: n(d.conflictsLogicalSlot),
        })),
      };
    });
  }
}

function presentIo(r: IoRow): IoStatDto {
  return {
    ...r,
    reads: n(r.reads),
    readBytes: n(r.readBytes),
    writes: n(r.writes),
    writeBytes: n(r.writeBytes),
    writebacks: n(r.writebacks),
    extends: n(r.extends),
    extendBytes: n(r.extendBytes),
    hits: n(r.hits),
    evictions: n(r.evictions),
    reuses: n(r.reuses),
    fsyncs: n(r.fsyncs),
    statsReset: iso(r.statsReset),
  };
}

/** The figures a person reads first, from the relation rows of pg_stat_io. */
export function summarise(rows: IoRow[]): IoSummaryDto {
  const relation = rows.filter((r) => r.object === 'relation');
  const sum = (list: IoRow[], f: (r: IoRow) => number | null) => list.reduce((a, r) => a + Number(f(r) ?? 0), 0);
  const hits = sum(relation, (r) => r.hits);
  const reads = sum(relation, (r) => r.reads);
  const writers = new Map<string, number>();
  for (const r of relation) writers.set(r.backendType, (writers.get(r.backendType) ?? 0) + Number(r.writes ?? 0));
  const totalWrites = [...writers.values()].reduce((a, b) => a + b, 0);
  return {
    sharedHitRatio: hits + reads > 0 ? round(hits / (hits + reads)) : null,
    evictions: sum(rows, (r) => r.evictions),
    reads,
    writesByBackendType: [...writers.entries()]
      .filter(([, w]) => w > 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([backendType, writes]) => ({
        backendType,
        writes,
        share: totalWrites > 0 ? round(writes / totalWrites) : null,
      })),
    clientWriteShare: totalWrites > 0 ? round((writers.get('client backend') ?? 0) / totalWrites) : null,
  };
}
