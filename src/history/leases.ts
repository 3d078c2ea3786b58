import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { maskCredentials } from '../common/pg-errors';
import { Env } from '../config/env';
import { TargetRegistry } from '../targets/registry';
import { Target } from '../targets/target';
import { HistoryService } from './history.service';
import { LeaseLostError, StoreSql } from './store';

/** The first key of the session advisory lock each instance holds while it lives (the second: its id's hash). */
const INSTANCE_LOCK = 7406712;
const VERSION = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;

export interface LeaseView {
  target: string;
  holder: string;
  since: Date;
  expiresAt: Date;
  moves: number;
}

export interface InstanceView {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: Date;
  heartbeatAt: Date;
  leases: number;
}

type Listener = (target: string, held: boolean) => void;

/**
 * An instance's share of `targets` among the `live` instances (ids): the targets divided by the instances, the
 * first `targets mod instances` by id taking one more, so the shares add up to the targets; and that rounded up.
 */
export function shareOf(targets: number, live: string[], me: string): { quota: number; ceiling: number } {
  const ids = [...new Set([...live, me])].sort();
  const rank = ids.indexOf(me);
  return {
    quota: Math.floor(targets / ids.length) + (rank < targets % ids.length ? 1 : 0),
    ceiling: Math.ceil(targets / ids.length),
  };
}

/**
 * Which instance collects which target, when several share one history store. Each target (server) is collected by
 * the holder of its lease: a row in the store renewed every sixth of LEASE_TAKEOVER_SECONDS and lasting 60% of it
 * (the store's clock decides). Each live instance also holds a session advisory lock on its own id: when an instance
 * dies its session ends and the lock with it, so the others take its leases at their next renewal instead of waiting
 * for the rows to expire (a host that vanishes without closing its sockets is found by expiry, or by the server's
 * TCP keepalives). Each instance aims at its share: the targets divided by the live instances, the first instances
 * by id taking one more of the remainder; it releases what it holds beyond that, and takes free leases up to it
 * (up to the share rounded up if some stay free for two renewals). A write for a target reads the lease FOR SHARE
 * in its own transaction (HistoryStore.fence): a slow instance that lost a lease cannot write for it.
 *
 * Started by main.ts with history on; not started (tests driving collections themselves), every target counts as
 * held and nothing is checked.
 */
@Injectable()
export class Leases implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Leases');
  readonly instanceId: string;
  private sql?: postgres.Sql<Record<string, unknown>>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private active = false;
  private stopping = false;
  private locked = false;
  private duplicate = false;
  /** Target name → the moment this instance took its lease (the store's clock). */
  private readonly held = new Map<string, Date>();
  /** Free leases seen at the previous renewal: still free now, this instance may take up to the share rounded up. */
  private freeBefore = new Set<string>();
  private lastRenewed = 0;
  private view: Map<string, LeaseView> | null = null;
  private readonly listeners: Listener[] = [];
  private readonly startedAt = new Date();

  constructor(
    @Inject(Env) private readonly env: Env,
    private readonly history: HistoryService,
    private readonly registry: TargetRegistry,
  ) {
    this.instanceId = env.INSTANCE_ID;
  }

  /** A lease lasts this long unless renewed. */
  get ttlMs(): number {
    return this.env.LEASE_TAKEOVER_SECONDS * 600;
  }

  /** How often leases are renewed (and free ones taken). */
  get renewMs(): number {
    return Math.round((this.env.LEASE_TAKEOVER_SECONDS * 1000) / 6);
  }

  /** Whether this instance collects `target` now (always, when leases are not in use). */
  collects(target: string): boolean {
    return !this.active || this.held.has(target);
  }

  /** Tells the collectors when a lease is taken or lost: what they knew of the target may be another's now. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** The holders as of the last renewal (null when leases are not in use). */
  holderOf(target: string): { instance: string; since: Date; expiresAt: Date } | null {
    const lease = this.view?.get(target);
    return lease ? { instance: lease.holder, since: lease.since, expiresAt: lease.expiresAt } : null;
  }

  get inUse(): boolean {
    return this.active;
  }

  /** Takes part in the sharing (main.ts, with history on): renews now, then every renewMs. */
  start(): void {
    const store = this.history.storeIfOn;
    if (!store || this.active || this.stopping) return;
    this.active = true;
    // One connection of its own: the instance's advisory lock lives as long as its session.
    this.sql = postgres(store.url, {
      max: 1,
      fetch_types: false,
      connect_timeout: 5,
      idle_timeout: 0,
      onnotice: () => undefined,
      onclose: () => {
        this.locked = false;
      },
      connection: {
        application_name: `pgscope-leases ${this.instanceId}`.slice(0, 63),
        statement_timeout: 5000,
        lock_timeout: 2000,
        // A host that vanishes without closing its socket: the store ends its session (and lock) within ~15 s.
        tcp_keepalives_idle: 5,
        tcp_keepalives_interval: 2,
        tcp_keepalives_count: 3,
      },
    }) as unknown as postgres.Sql<Record<string, unknown>>;
    store.fence = (tx, target) => this.fence(tx, target);
    const tick = () => void this.renewNow();
    tick();
    this.timer = setInterval(tick, this.renewMs);
    this.timer.unref();
  }

  /** One renewal (the timer's; never two at once). */
  async renewNow(): Promise<void> {
    this.running ??= this.renew().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Gives every lease back (the others take them at their next renewal) and leaves the list of instances. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    if (!this.active || !this.sql) return;
    await this.running?.catch(() => undefined);
    const sql = this.sql;
    try {
      await sql`delete from leases where holder = ${this.instanceId}`;
      await sql`delete from instances where id = ${this.instanceId}`;
    } catch {
      // The store is gone: the leases expire by themselves.
    }
    for (const name of [...this.held.keys()]) this.lose(name);
    await sql.end({ timeout: 2 }).catch(() => undefined);
  }

  /** The live instances and their lease counts, from the store. */
  async instances(): Promise<{ at: Date; instances: InstanceView[] }> {
    const store = this.history.store;
    const ttl = `${this.ttlMs} milliseconds`;
    return store.read(async (sql) => {
      const rows = await sql<(InstanceView & { at: Date })[]>`
        select i.id, i.host, i.pid, i.version, i.started_at as "startedAt", i.heartbeat_at as "heartbeatAt",
               (select count(*) from leases l where l.holder = i.id and l.expires_at > now())::int as leases,
               now() as at
          from instances i
         where i.heartbeat_at > now() - ${ttl}::interval
         order by i.id
         limit 1000`;
      const [{ at }] = rows.length ? rows : await sql<{ at: Date }[]>`select now() as at`;
      return { at, instances: rows.map(({ at: _at, ...r }) => r) };
    });
  }

  private async fence(tx: StoreSql, target: string): Promise<void> {
    if (!this.held.has(target)) throw new LeaseLostError(target);
    const [row] = await tx<{ ok: boolean }[]>`
      select true as ok from leases l join targets t on t.id = l.target_id
       where t.name = ${target} and l.holder = ${this.instanceId} and l.expires_at > now()
       for share of l`;
    if (!row) {
      this.lose(target);
      throw new LeaseLostError(target);
    }
  }

  private async renew(): Promise<void> {
    const store = this.history.storeIfOn;
    const sql = this.sql;
    if (!store || !sql || this.stopping) return;
    const me = this.instanceId;
    const ttl = `${this.ttlMs} milliseconds`;
    try {
      if (!this.locked) {
        const [{ ok }] = await sql<
          { ok: boolean }[]
        >`select pg_try_advisory_lock(${INSTANCE_LOCK}, hashtext(${me})) as ok`;
        this.locked = ok;
        if (!ok && !this.duplicate) {
          this.logger.error(`another live instance is called "${me}": this one takes no lease (set INSTANCE_ID)`);
        }
        this.duplicate = !ok;
      }
      await sql`
        insert into instances (id, host, pid, version, started_at, heartbeat_at)
        values (${me}, ${os.hostname()}, ${process.pid}, ${VERSION}, ${this.startedAt}, now())
        on conflict (id) do update
          set host = excluded.host, pid = excluded.pid, version = excluded.version, started_at = excluded.started_at,
              heartbeat_at = excluded.heartbeat_at`;
      const targets = this.registry.list();
      const ids = new Map<number, Target>();
      for (const t of targets) ids.set(await store.targetId(t.name), t);
      // Renew what this instance holds (a lease its own write has locked FOR SHARE this moment waits for the next
      // renewal: never long, well within its lifetime); what it no longer finds was taken over.
      await sql`
        update leases l set expires_at = now() + ${ttl}::interval
          from (select target_id from leases where holder = ${me} and expires_at > now()
                   for no key update skip locked) mine
         where l.target_id = mine.target_id`;
      const still = await sql<{ id: number }[]>`
        select target_id as id from leases where holder = ${me} and expires_at > now()`;
      const kept = new Set(still.map((r) => ids.get(r.id)?.name).filter((n): n is string => n !== undefined));
      for (const name of [...this.held.keys()]) if (!kept.has(name)) this.lose(name);
      this.lastRenewed = performance.now();

      const leases = await sql<(LeaseView & { id: number; valid: boolean; now: Date })[]>`
        select l.target_id as id, t.name as target, l.holder, l.since, l.expires_at as "expiresAt", l.moves,
               l.expires_at > now() as valid, now() as now
          from leases l join targets t on t.id = l.target_id
         order by l.target_id limit 100000`;
      const instances = await sql<{ id: string }[]>`
        select id from instances where heartbeat_at > now() - ${ttl}::interval order by id limit 10000`;
      // An instance (or lease holder) whose lock is free is gone, whatever its last heartbeat says: its session
      // ended. Its leases are free now, and it no longer counts in the shares.
      const dead = new Set<string>();
      const others = new Set([...instances.map((i) => i.id), ...leases.filter((l) => l.valid).map((l) => l.holder)]);
      others.delete(me);
      for (const id of others) {
        const [{ free }] = await sql<{ free: boolean }[]>`
          select pg_try_advisory_lock(${INSTANCE_LOCK}, hashtext(${id})) as free`;
        if (free) {
          await sql`select pg_advisory_unlock(${INSTANCE_LOCK}, hashtext(${id}))`;
          dead.add(id);
        }
      }
      const live = [...new Set([...instances.map((i) => i.id), me])].filter((id) => !dead.has(id)).sort();
      if (this.duplicate) {
        for (const name of [...this.held.keys()]) this.lose(name);
      } else {
        await this.balance(sql, ids, leases, live, dead);
      }
      // The holders as of now, by target (GET /targets asks for each of its targets).
      const after = await sql<LeaseView[]>`
        select t.name as target, l.holder, l.since, l.expires_at as "expiresAt", l.moves
          from leases l join targets t on t.id = l.target_id
         where l.expires_at > now() order by l.target_id limit 100000`;
      this.view = new Map(after.map((l) => [l.target, l]));
      this.sizePools(targets, live.length);
      if (Math.random() < 0.01) await sql`delete from instances where heartbeat_at < now() - interval '1 day'`;
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'no code';
      this.logger.warn(`lease renewal failed: ${code} ${maskCredentials(String((err as Error).message ?? err))}`);
      // Not renewed for a lease's lifetime: the others may hold them now.
      if (performance.now() - this.lastRenewed > this.ttlMs) {
        for (const name of [...this.held.keys()]) this.lose(name);
      }
    }
  }

  /** Releases what is beyond this instance's share, takes free (or dead instances') leases up to it. */
  private async balance(
    sql: postgres.Sql<Record<string, unknown>>,
    ids: Map<number, Target>,
    leases: (LeaseView & { id: number; valid: boolean })[],
    live: string[],
    dead: Set<string>,
  ): Promise<void> {
    const me = this.instanceId;
    const ttl = `${this.ttlMs} milliseconds`;
    const { quota, ceiling } = shareOf(ids.size, live, me);
    if (this.held.size > quota) {
      // The most recently taken go first: the longest-held targets keep their collector.
      const extra = [...this.held.entries()]
        .sort((a, b) => b[1].getTime() - a[1].getTime())
        .slice(0, this.held.size - quota)
        .map(([name]) => name);
      const extraIds = [...ids].filter(([, t]) => extra.includes(t.name)).map(([id]) => id);
      for (const name of extra) this.lose(name);
      await sql`delete from leases where holder = ${me} and target_id = any(${`{${extraIds.join(',')}}`}::int[])`;
      return;
    }
    const byId = new Map(leases.map((l) => [l.id, l]));
    const free = [...ids]
      .filter(([id, t]) => {
        if (this.held.has(t.name)) return false;
        const lease = byId.get(id);
        return !lease || !lease.valid || dead.has(lease.holder);
      })
      .sort(() => Math.random() - 0.5);
    const limit = free.some(([, t]) => this.freeBefore.has(t.name)) ? ceiling : quota;
    this.freeBefore = new Set(free.map(([, t]) => t.name));
    for (const [id, target] of free) {
      if (this.held.size >= limit) break;
      const holder = byId.get(id)?.holder ?? '';
      let row: { since: Date } | undefined;
      try {
        [row] = await sql<{ since: Date }[]>`
          insert into leases as l (target_id, holder, since, expires_at)
          values (${id}, ${me}, now(), now() + ${ttl}::interval)
          on conflict (target_id) do update
            set holder = excluded.holder, since = excluded.since, expires_at = excluded.expires_at, moves = l.moves + 1
            where l.expires_at <= now() or l.holder = ${holder}
          returning l.since`;
      } catch (err) {
        // Its last holder's write holds the row (lock_timeout): that transaction ends, or the store ends it
        // (idle_in_transaction_session_timeout), before the next renewal.
        if ((err as { code?: string }).code === '55P03') continue;
        throw err;
      }
      if (row) {
        this.held.set(target.name, row.since);
        this.freeBefore.delete(target.name);
        for (const listener of this.listeners) listener(target.name, true);
        this.logger.log(`collecting target "${target.name}"${holder && holder !== me ? ` (was ${holder})` : ''}`);
      }
    }
  }

  private lose(name: string): void {
    if (!this.held.delete(name)) return;
    for (const listener of this.listeners) listener(name, false);
    if (!this.stopping) this.logger.log(`no longer collecting target "${name}"`);
  }

  /**
   * Each instance keeps its own small pool to every target (any instance answers any request): the holder up to the
   * target's poolMax less one per other live instance (at least 1), the others 1.
   */
  private sizePools(targets: Target[], live: number): void {
    for (const t of targets) {
      t.pool.setMax(this.held.has(t.name) ? Math.max(1, t.config.poolMax - (live - 1)) : 1);
    }
  }
}
