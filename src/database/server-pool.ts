import postgres from 'postgres';

/** int8 and numeric as JS numbers (monitoring counters fit in 2^53); 64-bit identifiers are cast to text in SQL. */
const NUMERIC_TYPES = {
  int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
  numeric: { to: 1700, from: [1700], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
};

export type Sql = postgres.Sql<Record<string, unknown>>;

export interface ServerPoolOptions {
  /** The server's URL; its database part is replaced by each slot's database. */
  url: string;
  /** Connections to this server, over all its databases: never more. */
  max: number;
  queryTimeoutMs: number;
  lockTimeoutMs: number;
  applicationName?: string;
  /** A connection to `database` closed (a restart, a failover, an idle timeout): its facts may have changed. */
  onClose?: (database: string) => void;
}

/** One connection's worth of the budget: a postgres.js instance of at most one connection, to one database. */
export interface Slot {
  readonly database: string;
  readonly sql: Sql;
}

interface SlotState extends Slot {
  busy: boolean;
  lastUsed: number;
}

/**
 * The connections pgscope keeps to one server, over every database it watches there: at most `max`, whatever the
 * number of databases. A database's connection is opened when a read needs it and closed when it has been idle
 * (postgres.js's idle_timeout), or at once when another database needs the slot and none is free.
 */
export class ServerPool {
  private readonly slots: SlotState[] = [];
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: ServerPoolOptions) {}

  get max(): number {
    return this.options.max;
  }

  /**
   * A new budget (instances sharing a target share its poolMax): idle connections beyond it close now, busy ones
   * when released.
   */
  setMax(max: number): void {
    if (max === this.options.max) return;
    this.options.max = max;
    this.shrink();
  }

  /** Slots holding (or able to reopen) a connection: an upper bound of the connections open now. */
  get size(): number {
    return this.slots.length;
  }

  /** A slot for `database`, waiting for one to be released when all are busy. */
  async acquire(database: string): Promise<Slot> {
    for (;;) {
      if (this.closed) throw Object.assign(new Error('the target was removed'), { code: 'CONNECTION_ENDED' });
      const idle = this.slots.find((s) => !s.busy && s.database === database);
      if (idle) return this.take(idle);
      if (this.slots.length < this.options.max) return this.take(this.open(database));
      // The least recently used idle slot of another database gives way; its connection closes first, so the
      // server never sees one more than the budget.
      const victim = this.slots.filter((s) => !s.busy).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (victim) {
        this.slots.splice(this.slots.indexOf(victim), 1);
        const slot = this.open(database);
        slot.busy = true;
        await victim.sql.end({ timeout: 1 }).catch(() => undefined);
        return slot;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  release(slot: Slot): void {
    const state = slot as SlotState;
    state.busy = false;
    state.lastUsed = performance.now();
    this.shrink();
    this.waiting.shift()?.();
  }

  /** Closes idle slots (least recently used first) while there are more than the budget. */
  private shrink(): void {
    while (this.slots.length > this.options.max) {
      const victim = this.slots.filter((s) => !s.busy).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!victim) return;
      this.slots.splice(this.slots.indexOf(victim), 1);
      void victim.sql.end({ timeout: 1 }).catch(() => undefined);
    }
  }

  /**
   * Gives up a slot whose connection never became ready (a server or proxy that resets every connection during the
   * startup: postgres.js would try again for ever). A new slot opens on the next acquire.
   */
  discard(slot: Slot): void {
    const i = this.slots.indexOf(slot as SlotState);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.sql.end({ timeout: 0 }).catch(() => undefined);
  }

  /** Closes the connections of a database pgscope no longer watches (idle ones now, busy ones when released). */
  async drop(database: string): Promise<void> {
    const gone = this.slots.filter((s) => s.database === database && !s.busy);
    for (const s of gone) this.slots.splice(this.slots.indexOf(s), 1);
    await Promise.all(gone.map((s) => s.sql.end({ timeout: 1 }).catch(() => undefined)));
    this.waiting.shift()?.();
  }

  /** Lets reads in flight finish (up to `timeoutS`), then closes every connection. */
  async close(timeoutS = 5): Promise<void> {
    this.closed = true;
    const all = this.slots.splice(0);
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(all.map((s) => s.sql.end({ timeout: timeoutS }).catch(() => undefined)));
  }

  private take(slot: SlotState): Slot {
    slot.busy = true;
    return slot;
  }

  private open(database: string): SlotState {
    const { queryTimeoutMs, lockTimeoutMs } = this.options;
    const url = new URL(this.options.url);
    url.pathname = `/${encodeURIComponent(database)}`;
    const sql = postgres(url.toString(), {
      max: 1,
      fetch_types: false,
      connect_timeout: Math.max(1, Math.ceil(queryTimeoutMs / 1000)),
      idle_timeout: 60,
      onnotice: () => undefined,
      onclose: () => this.options.onClose?.(database),
      connection: {
        application_name: this.options.applicationName ?? 'pgscope',
        // Defence in depth: even a statement outside read() cannot write or run long.
        default_transaction_read_only: true,
        statement_timeout: queryTimeoutMs,
        lock_timeout: lockTimeoutMs,
        idle_in_transaction_session_timeout: queryTimeoutMs * 2,
      },
      types: NUMERIC_TYPES,
    }) as unknown as Sql;
    const slot: SlotState = { database, sql, busy: false, lastUsed: performance.now() };
    this.slots.push(slot);
    return slot;
  }
}
