import { Logger } from '@nestjs/common';
import { TargetRegistry } from '../targets/registry';
import { Target } from '../targets/target';
import { entryDeltas, GapReason, lifetimeBreak, MAX_INTERVAL_CADENCES, Sample } from './deltas';
import { Family, FamilyName, FamilySnapshot } from './family';
import type { Leases } from './leases';
import { HistoryStore, HistoryUnavailableError, LeaseLostError } from './store';

/** What the collector knows of one family of one database of one target. */
export interface CollectionState {
  target: string;
  family: FamilyName;
  database: string | null;
  /** The last snapshot written: the base of the next one's deltas. */
  previous?: { at: Date; snapshot: FamilySnapshot; samples: Map<string, Sample> };
  running: boolean;
  collections: number;
  skips: number;
  lastAt: Date | null;
  lastDurationMs: number | null;
  lastRows: number | null;
  lastError: { code: string; message: string; at: Date } | null;
  /** What failed since the last snapshot written: names the gap when collection resumes. */
  failing: 'collector' | 'store' | null;
}

/** Retries of a store that is down: 1 s, 2 s, 4 s … at most a minute apart. */
const STORE_BACKOFF_MIN_MS = 1000;
const STORE_BACKOFF_MAX_MS = 60_000;

export type CollectionOutcome = 'written' | 'skipped' | 'unavailable' | 'failed' | 'not_held';

/**
 * Takes each family's snapshots of every target (and database) on its cadence, through the targets' providers, and
 * writes each in one store transaction: the interval's deltas where one lifetime covers it, otherwise a named gap.
 * A collection never overlaps itself (one still running makes the next a skip, recorded); a failure of the watched
 * server or of the store costs that interval, never a crash, and the next one tries again.
 */
export class Collector {
  private readonly logger = new Logger('HistoryCollector');
  private readonly states = new Map<string, CollectionState>();
  private readonly timers: NodeJS.Timeout[] = [];
  private retentionTimer?: NodeJS.Timeout;
  private stopped = false;
  /** The store failed: no collection before this time (then doubling up to STORE_BACKOFF_MAX_MS). */
  private storeRetryAt = 0;
  private storeBackoffMs = 0;

  constructor(
    private readonly registry: TargetRegistry,
    private readonly store: HistoryStore,
    private readonly families: Family[],
    private readonly leases?: Leases,
  ) {
    // A target taken over (or given up): what this instance remembers of it may predate another's snapshots, so
    // the next snapshot starts from the store (a gap from the last one written, whoever wrote it).
    leases?.onChange((target, held) => {
      for (const [key, state] of this.states) if (state.target === target) this.states.delete(key);
      // Taken over: collected now, not at the families' next tick (the takeover time is the lease's).
      if (held && this.timers.length > 0 && !this.stopped) {
        const t = this.registry.list().find((x) => x.name === target);
        if (t) for (const family of this.families) void this.collectTarget(t, family).catch(() => undefined);
      }
    });
  }

  /** Every family now, then on its cadence; retention hourly. */
  start(): void {
    for (const family of this.families) {
      const tick = () => void this.collectFamily(family);
      tick();
      const timer = setInterval(tick, family.intervalMs());
      timer.unref();
      this.timers.push(timer);
    }
    const retain = () => void this.store.applyRetention().catch(() => undefined);
    retain();
    this.retentionTimer = setInterval(retain, 3_600_000);
    this.retentionTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.timers.splice(0).forEach(clearInterval);
    clearInterval(this.retentionTimer);
  }

  list(): CollectionState[] {
    return [...this.states.values()];
  }

  /** One family of every target, concurrently (a slow target delays only itself). */
  async collectFamily(family: Family): Promise<void> {
    if (this.stopped) return;
    await Promise.all(this.registry.list().map((t) => this.collectTarget(t, family).catch(() => undefined)));
  }

  /** The collector's entry point: a family of one target (each of its databases, for per-database families). */
  async collectTarget(target: Target, family: Family): Promise<CollectionOutcome[]> {
    // Another instance collects it (instances sharing a store).
    if (this.leases && !this.leases.collects(target.name)) return ['not_held'];
    if (!family.perDatabase) return [await this.collect(target, family, null)];
    const outcomes: CollectionOutcome[] = [];
    for (const database of target.databases()) outcomes.push(await this.collect(target, family, database));
    return outcomes;
  }

  /** By name, for tests and tools: every family of a target. */
  async collectNow(targetName: string, families: FamilyName[] = this.families.map((f) => f.name)): Promise<void> {
    const target = this.registry.get(targetName);
    for (const family of this.families.filter((f) => families.includes(f.name))) {
      await this.collectTarget(target, family);
    }
  }

  private state(target: Target, family: Family, database: string | null): CollectionState {
    const key = `${target.name}\u0000${family.name}\u0000${database ?? ''}`;
    let state = this.states.get(key);
    if (!state) {
      state = {
        target: target.name,
        family: family.name,
        database,
        running: false,
        collections: 0,
        skips: 0,
        lastAt: null,
        lastDurationMs: null,
        lastRows: null,
        lastError: null,
        failing: null,
      };
      this.states.set(key, state);
    }
    return state;
  }

  private async collect(target: Target, family: Family, database: string | null): Promise<CollectionOutcome> {
    const state = this.state(target, family, database);
    if (state.running) {
      state.skips++;
      return 'skipped';
    }
    if (Date.now() < this.storeRetryAt) {
      // The store is down: reading the watched server for a snapshot that cannot be written would only load it.
      state.failing ??= 'store';
      return 'failed';
    }
    state.running = true;
    const started = performance.now();
    try {
      const db = await target.database(database ?? undefined);
      let read: FamilySnapshot | { unavailable: string };
      try {
        read = await family.read(db, target);
      } catch (err) {
        this.fail(state, 'collector', err);
        return 'failed';
      }
      if ('unavailable' in read) {
        state.lastError = { code: 'UNAVAILABLE', message: read.unavailable, at: new Date() };
        return 'unavailable';
      }
      try {
        const rows = await this.write(target, family, state, read, performance.now() - started);
        state.previous = { at: read.at, snapshot: read, samples: new Map(read.samples.map((s) => [s.key, s])) };
        family.committed?.(await this.store.targetId(target.name), read);
        state.collections++;
        state.lastAt = read.at;
        state.lastRows = rows;
        state.lastDurationMs = performance.now() - started;
        state.lastError = null;
        state.failing = null;
        this.storeBackoffMs = 0;
        return 'written';
      } catch (err) {
        if (err instanceof LeaseLostError) {
          // Taken over between the read and the write: the new holder collects it; nothing was written.
          state.previous = undefined;
          return 'not_held';
        }
        this.fail(state, 'store', err);
        if (err instanceof HistoryUnavailableError) {
          this.storeBackoffMs = Math.min(STORE_BACKOFF_MAX_MS, Math.max(STORE_BACKOFF_MIN_MS, this.storeBackoffMs * 2));
          this.storeRetryAt = Date.now() + this.storeBackoffMs;
        }
        return 'failed';
      }
    } catch (err) {
      this.fail(state, 'collector', err);
      return 'failed';
    } finally {
      state.running = false;
    }
  }

  private fail(state: CollectionState, what: 'collector' | 'store', err: unknown): void {
    const code =
      err instanceof HistoryUnavailableError ? 'HISTORY_UNAVAILABLE' : ((err as { code?: string }).code ?? 'ERROR');
    const message = err instanceof Error ? err.message : String(err);
    if (state.lastError?.code !== code) {
      this.logger.warn(
        `${state.target} ${state.family}${state.database ? ` ${state.database}` : ''}: ${code} ${message}`,
      );
    }
    state.lastError = { code, message, at: new Date() };
    state.failing ??= what;
  }

  /** The snapshot, its deltas (or gap) and the family's rows, in one transaction. */
  private async write(
    target: Target,
    family: Family,
    state: CollectionState,
    cur: FamilySnapshot,
    durationMs: number,
  ): Promise<number> {
    const dbid = cur.dbid;
    const targetId = await this.store.targetId(target.name);
    await this.store.ensurePartitions(cur.at);
    const prev = state.previous;
    const stored = prev ? undefined : await this.lastStored(targetId, family, dbid);
    let gap: { from: Date; reason: GapReason } | undefined;
    let deltas: ReturnType<typeof entryDeltas> = { deltas: [], recreated: 0, vanished: 0 };
    const entryGaps: string[] = [];
    if (family.levels) {
      // Levels (sizes) need no lifetime: every snapshot stores what changed since the previous one.
    } else if (prev) {
      const elapsed = cur.at.getTime() - prev.at.getTime();
      const broken = lifetimeBreak(prev.snapshot.lifetime, cur.lifetime, family.reset);
      if (broken) {
        gap = { from: prev.at, reason: broken };
      } else if (elapsed > MAX_INTERVAL_CADENCES * family.intervalMs()) {
        gap = { from: prev.at, reason: state.failing === 'store' ? 'store_down' : 'collector_down' };
      } else {
        // Entries with a lifetime of their own (a database whose statistics were reset) have no delta this time.
        const samples = cur.samples.filter((s) => {
          const before = prev.snapshot.entryLifetimes?.get(s.key);
          const now = cur.entryLifetimes?.get(s.key);
          if (before !== undefined && now !== undefined && before !== now) {
            entryGaps.push(s.key);
            return false;
          }
          return true;
        });
        deltas = entryDeltas(prev.samples, samples);
      }
    } else if (stored) {
      // pgscope (re)started: the last snapshot written before is there, its values are not.
      gap = { from: stored.at, reason: 'collector_down' };
    }
    // pg_stat_statements_info.dealloc counts evictions (1.9+); before it, entries that vanished are the sign. An
    // entry found created again lost its earlier count either way.
    let evicted = 0;
    if (family.name === 'statements' && prev && !gap) {
      evicted =
        cur.dealloc != null && prev.snapshot.dealloc != null
          ? Math.max(0, cur.dealloc - prev.snapshot.dealloc) + deltas.recreated
          : deltas.vanished + deltas.recreated;
    }
    const previousAt = gap || !prev || family.levels ? null : prev.at;
    return this.store.write(async (tx) => {
      await tx`insert into snapshots (target_id, family, dbid, at, datname, prev_at, duration_ms, rows, server_version,
                                      extension_version, postmaster_start, system_id, timeline, stats_reset, dealloc,
                                      evicted, instance)
               values (${targetId}, ${family.name}, ${dbid}, ${cur.at}, ${state.database}, ${previousAt}, ${durationMs},
                       ${deltas.deltas.length}, ${cur.serverVersion}, ${cur.extensionVersion ?? null},
                       ${cur.lifetime.postmasterStart}, ${cur.lifetime.systemId},
                       ${cur.lifetime.timeline}, ${cur.lifetime.statsReset}, ${cur.dealloc ?? null}, ${evicted},
                       ${this.store.instance})`;
      if (gap) {
        await tx`insert into gaps (target_id, family, dbid, from_at, to_at, reason)
                 values (${targetId}, ${family.name}, ${dbid}, ${gap.from}, ${cur.at}, ${gap.reason})
                 on conflict do nothing`;
      }
      if (!gap && prev && evicted > 0) {
        // The interval is counted, but entries evicted in it lost what they had counted before.
        await tx`insert into gaps (target_id, family, dbid, from_at, to_at, reason)
                 values (${targetId}, ${family.name}, ${dbid}, ${prev.at}, ${cur.at}, 'entry_evicted')
                 on conflict do nothing`;
      }
      if (!gap && prev) {
        for (const key of entryGaps) {
          // The key of a per-database entry is its oid (the database family).
          await tx`insert into gaps (target_id, family, dbid, from_at, to_at, reason)
                   values (${targetId}, ${family.name}, ${Number(key)}, ${prev.at}, ${cur.at}, 'stats_reset')
                   on conflict do nothing`;
        }
      }
      const levelPrevious = prev?.samples;
      return family.write(tx, {
        targetId,
        dbid,
        at: cur.at,
        previousAt,
        snapshot: cur,
        deltas: deltas.deltas,
        previous: levelPrevious,
      });
    }, target.name);
  }

  /** The last snapshot of this family written before this process: the start of a collector_down gap. */
  private async lastStored(targetId: number, family: Family, dbid: number): Promise<{ at: Date } | undefined> {
    const [row] = await this.store.read(
      (sql) => sql<{ at: Date }[]>`
        select max(at) as at from snapshots where target_id = ${targetId} and family = ${family.name} and dbid = ${dbid}`,
    );
    return row?.at ? { at: row.at } : undefined;
  }
}
