import { Injectable } from '@nestjs/common';
import { DatabaseProvider } from '../../database/database.provider';
import { buildMeta, pgMonitorWarning, WarningDto } from '../shared/meta.dto';
import { ReceiverDto, ReplicationResponseDto } from './replication.dto';
import { archiverQuery, receiverQuery, roleQuery, slotsQuery, standbysQuery, timelineQuery } from './replication.sql';

const iso = (d: Date | null) => d?.toISOString() ?? null;
const n = (v: number | string | null) => (v === null ? null : Number(v));
const ms = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);

/**
 * Replication: the server's role, each standby of a primary with byte lag against the current WAL position and the
 * lag times PostgreSQL measures (never a clock difference that grows while the primary is idle), a standby's own
 * receive and replay, the slots and the WAL they retain, and the archiver.
 */
@Injectable()
export class ReplicationService {
  async getReplication(db: DatabaseProvider): Promise<ReplicationResponseDto> {
    const started = performance.now();
    return db.read('replication', async (ctx) => {
      const { sql, info } = ctx;
      const [role] = await roleQuery(sql);
      const timeline = await ctx.optional(
        async (sp) => (await timelineQuery(sp))[0]?.timeline ?? null,
        ['42501'],
        () => null,
      );
      const standby = role.inRecovery;
      const standbys = standby ? [] : await standbysQuery(sql);
      const [r] = standby ? await receiverQuery(sql, info.major) : [];
      const slots = await slotsQuery(sql, info.major);
      const [a] = await archiverQuery(sql);
      const warnings: WarningDto[] = [];
      if (!info.pgMonitor && !info.superuser) {
        warnings.push(pgMonitorWarning(info, 'the positions and lags of standbys and the WAL receiver are hidden.'));
      }
      let receiver: ReceiverDto | null = null;
      if (r) {
        const lag = n(r.lagBytes);
        const since = ms(r.sinceLastReplayMs);
        const basis = r.replayedLsn === null ? 'unknown' : lag !== null && lag > 0 ? 'behind' : 'caught_up';
        receiver = {
          receivedLsn: r.receivedLsn,
          replayedLsn: r.replayedLsn,
          lagBytes: lag,
          replayPaused: r.replayPaused,
          lastReplayAt: iso(r.lastReplayAt),
          timeSinceLastReplayMs: since,
          replayDelayBasis: basis,
          replayDelayMs: basis === 'caught_up' ? 0 : basis === 'behind' ? since : null,
          status: r.status,
          senderHost: r.senderHost,
          senderPort: r.senderPort,
          slotName: r.slotName,
          lastMsgSendTime: iso(r.lastMsgSendTime),
          lastMsgReceiptTime: iso(r.lastMsgReceiptTime),
          latestEndLsn: r.latestEndLsn,
          latestEndTime: iso(r.latestEndTime),
        };
      }
      return {
        meta: buildMeta(info, started, warnings),
        role: standby ? 'standby' : 'primary',
        timeline,
        currentLsn: role.currentLsn,
        standbys: standbys.map((s) => ({
          ...s,
          sentLagBytes: n(s.sentLagBytes),
          writeLagBytes: n(s.writeLagBytes),
          flushLagBytes: n(s.flushLagBytes),
          replayLagBytes: n(s.replayLagBytes),
          writeLagMs: ms(s.writeLagMs),
          flushLagMs: ms(s.flushLagMs),
          replayLagMs: ms(s.replayLagMs),
          replyTime: iso(s.replyTime),
          replyAgeMs: ms(s.replyAgeMs),
          backendXminAge: n(s.backendXminAge),
        })),
        receiver,
        slots: slots.map((s) => ({
          ...s,
          safeWalSizeBytes: n(s.safeWalSizeBytes),
          retainedBytes: n(s.retainedBytes),
          xminAge: n(s.xminAge),
          catalogXminAge: n(s.catalogXminAge),
          inactiveSince: iso(s.inactiveSince),
        })),
        archiver: {
          archiveMode: role.archiveMode,
          archivedCount: Number(a.archivedCount),
          lastArchivedWal: a.lastArchivedWal,
          lastArchivedTime: iso(a.lastArchivedTime),
          failedCount: Number(a.failedCount),
          lastFailedWal: a.lastFailedWal,
          lastFailedTime: iso(a.lastFailedTime),
          failing:
            a.lastFailedTime !== null &&
            (a.lastArchivedTime === null || a.lastFailedTime.getTime() > a.lastArchivedTime.getTime()),
          statsReset: iso(a.statsReset),
        },
      };
    });
  }
}
