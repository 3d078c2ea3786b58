import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { Env } from '../config/env';
import { insertRows } from '../history/family';
import { HistoryService } from '../history/history.service';
import { Leases } from '../history/leases';
import { HistoryStore, HistoryUnavailableError, LeaseLostError } from '../history/store';
import { redactSql } from '../monitoring/shared/redact';
import { TargetRegistry } from '../targets/registry';
import { Target } from '../targets/target';
import { LoadAggregator, LoadBucket } from './load.aggregator';
import { chainsSampleQuery, Sample, sessionsSampleQuery } from './load.sql';

/** Buckets kept while the store is down (an hour at the default 10 s): written when it is back, nothing lost. */
const MAX_PENDING_BUCKETS = 360;

/** What the sampler knows of one target. */
export interface SamplerState {
  target: string;
  running: boolean;
  samples: number;
  skips: number;
  failures: number;
  lastAt: Date | null;
  lastDurationMs: number | null;
  lastError: { code: string; message: string; at: Date } | null;
  /** Buckets completed and not yet written (the store was down). */
  pending: LoadBucket[];
  /** The last bucket written: a later one more than two buckets on is a gap. */
  lastWritten?: Date;
  failing: 'collector' | 'store' | null;
  /** Buckets dropped from `pending` while the store was down too long. */
  dropped: boolean;
  aggregator: LoadAggregator;
  /** The watched server's clock less this process's, from the last sample: where a skip falls. */
  offsetMs: number;
}

/**
 * Samples pg_stat_activity of every target every LOAD_SAMPLE_MS (one bounded read; lock chains only when a session
 * waits on a lock), aggregates in memory into buckets of LOAD_BUCKET_SECONDS and writes each bucket once. A sample
 * still running when the next is due makes that one a skip, counted. A target that does not answer costs its own
 * samples only.
 */
@Injectable()
export class LoadSampler implements BeforeApplicationShutdown {
  private readonly logger = new Logger('LoadSampler');
  private readonly states = new Map<string, SamplerState>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly registry: TargetRegistry,
    private readonly history: HistoryService,
    @Inject(Env) private readonly env: Env,
    private readonly leases: Leases,
  ) {
    // Taken over or given up: its open bucket and pending ones are dropped (the holder samples it; a write after
    // losing the lease would be refused anyway), and the next holder starts from the store.
    leases.onChange((target) => this.states.delete(target));
  }

  get bucketMs(): number {
    return this.env.LOAD_BUCKET_SECONDS * 1000;
  }

  start(): void {
    if (this.env.LOAD_SAMPLE_MS === 0 || !this.history.storeIfOn || this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.env.LOAD_SAMPLE_MS);
    this.timer.unref();
  }

  list(): SamplerState[] {
    return [...this.states.values()];
  }

  /** One sample of every target (the timer's tick; tests call it directly). */
  async tick(): Promise<void> {
    await Promise.all(this.registry.list().map((t) => this.sampleTarget(t).catch(() => undefined)));
  }

  /** One sample of one target, and the write of the buckets it completes. */
  async sampleTarget(target: Target): Promise<void> {
    const store = this.history.storeIfOn;
    if (!store || !this.leases.collects(target.name)) return;
    const state = this.state(target);
    if (state.running) {
      state.skips++;
      await this.write(target, store, state, state.aggregator.skip(new Date(Date.now() + state.offsetMs)));
      return;
    }
    state.running = true;
    const started = performance.now();
    let sample: Sample;
    try {
      const db = target.primary;
      sample = await db.read(
        'load-sample',
        async (ctx) => {
          const sessions = await sessionsSampleQuery(ctx.sql, ctx.info.major);
          const [clock] = sessions.length
            ? sessions
            : await ctx.sql<{ at: Date; maxConnections: number }[]>`
                select /* pgscope */ statement_timestamp() as at, current_setting('max_connections')::int as "maxConnections"`;
          const chains = sessions.some((s) => s.waitType === 'Lock')
            ? await chainsSampleQuery(ctx.sql, ctx.info.major)
            : [];
          return { at: clock.at, maxConnections: clock.maxConnections, sessions, chains };
        },
        { statementTimeoutMs: Math.min(db.queryTimeoutMs, Math.max(1000, this.env.LOAD_SAMPLE_MS * 2)) },
      );
    } catch (err) {
      state.failures++;
      this.fail(state, 'collector', err);
      state.running = false;
      return;
    }
    state.samples++;
    state.lastAt = sample.at;
    state.lastDurationMs = performance.now() - started;
    state.offsetMs = sample.at.getTime() - Date.now();
    if (state.failing === 'collector') state.failing = null;
    try {
      await this.write(target, store, state, state.aggregator.add(sample));
    } finally {
      state.running = false;
    }
  }

  /** Writes the completed buckets (and those pending from a store outage), each in one transaction. */
  private async write(target: Target, store: HistoryStore, state: SamplerState, done: LoadBucket[]): Promise<void> {
    state.pending.push(...done);
    if (state.pending.length > MAX_PENDING_BUCKETS) {
      state.pending.splice(0, state.pending.length - MAX_PENDING_BUCKETS);
      state.dropped = true;
    }
    while (state.pending.length > 0) {
      const bucket = state.pending[0];
      try {
        await this.writeBucket(target, store, state, bucket);
        state.pending.shift();
        state.lastWritten = bucket.at;
        if (state.failing === 'store') state.failing = null;
        state.dropped = false;
      } catch (err) {
        if (err instanceof LeaseLostError) {
          state.pending.splice(0);
          return;
        }
        this.fail(state, 'store', err);
        return;
      }
    }
    if (state.failing === null) state.lastError = null;
  }

  private async writeBucket(target: Target, store: HistoryStore, state: SamplerState, b: LoadBucket): Promise<void> {
    const targetId = await store.targetId(target.name);
    await store.ensurePartitions(b.at);
    const last =
      state.lastWritten ??
      (await store.read(async (sql) => {
        const [row] = await sql<{ at: Date | null }[]>`
          select max(at) as at from load_ticks where target_id = ${targetId}`;
        return row.at ?? undefined;
      }));
    await store.write(async (tx) => {
      // Two buckets or more without a write: a gap, named for what failed (or pgscope not running).
      if (last && b.at.getTime() - last.getTime() > 2.5 * this.bucketMs) {
        await tx`insert into gaps (target_id, family, dbid, from_at, to_at, reason)
                 values (${targetId}, 'load', 0, ${new Date(last.getTime() + this.bucketMs)}, ${b.at},
                         ${state.dropped ? 'store_down' : 'collector_down'})
                 on conflict do nothing`;
      }
      await tx`insert into load_ticks (at, target_id, samples, skipped, max_connections)
               values (${b.at}, ${targetId}, ${b.samples}, ${b.skipped}, ${b.maxConnections})
               on conflict (target_id, at) do update
                 set samples = load_ticks.samples + excluded.samples, skipped = load_ticks.skipped + excluded.skipped,
                     max_connections = coalesce(excluded.max_connections, load_ticks.max_connections)`;
      await insertRows(
        tx,
        'load_buckets',
        {
          at: 'timestamptz',
          target_id: 'smallint',
          kind: '"char"',
          wait_type: 'text',
          wait_event: 'text',
          queryid: 'bigint',
          query: 'text',
          datname: 'text',
          usename: 'text',
          application: 'text',
          sessions: 'integer',
        },
        b.rows.map((r) => ({
          at: b.at,
          target_id: targetId,
          kind: r.kind,
          wait_type: r.waitType,
          wait_event: r.waitEvent,
          queryid: r.queryId,
          query: r.query,
          datname: r.database,
          usename: r.user,
          application: r.application,
          sessions: r.sessions,
        })),
      );
      await insertRows(
        tx,
        'lock_chains',
        {
          at: 'timestamptz',
          target_id: 'smallint',
          first_seen: 'timestamptz',
          last_seen: 'timestamptz',
          root_pid: 'integer',
          root_backend_start: 'timestamptz',
          xact_start: 'timestamptz',
          usename: 'text',
          application: 'text',
          state: 'text',
          queryid: 'bigint',
          query: 'text',
          waiting: 'integer',
          longest_wait_ms: 'float8',
          holds: 'text',
        },
        b.chains.map((c) => ({
          at: b.at,
          target_id: targetId,
          first_seen: c.firstSeen,
          last_seen: c.lastSeen,
          root_pid: c.rootPid,
          root_backend_start: c.rootBackendStart,
          xact_start: c.xactStart,
          usename: c.user,
          application: c.application,
          state: c.state,
          queryid: c.queryId,
          query: c.query,
          waiting: c.waiting,
          longest_wait_ms: c.longestWaitMs,
          holds: c.holds,
        })),
      );
    }, target.name);
  }

  private state(target: Target): SamplerState {
    let state = this.states.get(target.name);
    if (!state) {
      const mode = this.env.QUERY_TEXT;
      state = {
        target: target.name,
        running: false,
        samples: 0,
        skips: 0,
        failures: 0,
        lastAt: null,
        lastDurationMs: null,
        lastError: null,
        pending: [],
        failing: null,
        dropped: false,
        offsetMs: 0,
        // Texts stand for statements only on 13 (no queryId): always with their literals redacted, or none at all.
        aggregator: new LoadAggregator(this.bucketMs, (t) =>
          mode === 'none' || t === null ? null : redactSql(t).slice(0, 2000),
        ),
      };
      this.states.set(target.name, state);
    }
    return state;
  }

  private fail(state: SamplerState, what: 'collector' | 'store', err: unknown): void {
    const code =
      err instanceof HistoryUnavailableError ? 'HISTORY_UNAVAILABLE' : ((err as { code?: string }).code ?? 'ERROR');
    if (state.lastError?.code !== code) {
      this.logger.warn(`${state.target}: load ${what === 'store' ? 'write' : 'sample'} failed: ${code}`);
    }
    state.lastError = { code, message: err instanceof Error ? err.message : String(err), at: new Date() };
    state.failing = what;
  }

  /** Writes what is open (a clean shutdown loses no partial bucket), before the store closes. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const store = this.history.storeIfOn;
    if (!store) return;
    for (const state of this.states.values()) {
      const target = this.registry.list().find((t) => t.name === state.target);
      if (target) await this.write(target, store, state, state.aggregator.flush()).catch(() => undefined);
    }
  }
}
