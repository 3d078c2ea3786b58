import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { EmbeddedPostgres } from './embedded';

const DEMO_DATABASE = 'demo';
/** The second, smaller database: its own issues, so that discovery and the `database` parameter show at once. */
const INVENTORY_DATABASE = 'inventory';
const DEMO_ROLE = 'pgscope';

/**
 * The embedded demo behind `npm start` without DATABASE_URL: a real server, a small shop schema with the
 * situations pgscope exists to show (an unused and a duplicate index, dead tuples, a lock chain, a slow query),
 * a light workload, and a least-privilege role for pgscope to connect as (pg_monitor, plus SELECT on the demo's
 * tables so that bloat estimates can read their column statistics).
 */
export class DemoServer {
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;

  readonly databases = [DEMO_DATABASE, INVENTORY_DATABASE];

  private constructor(
    readonly server: EmbeddedPostgres,
    readonly url: string,
    private readonly admin: postgres.Sql,
    private readonly inventory: postgres.Sql,
    private readonly logger: Logger,
  ) {}

  static async start(logger: Logger, major?: number): Promise<DemoServer> {
    const server = await EmbeddedPostgres.start({ major, settings: { max_connections: 60 } });
    try {
      const bootstrap = postgres(server.url(), { max: 1, onnotice: () => undefined });
      await bootstrap.unsafe(`create database ${DEMO_DATABASE}`);
      await bootstrap.unsafe(`create database ${INVENTORY_DATABASE}`);
      const password = randomBytes(18).toString('base64url');
      await bootstrap.unsafe(`create role ${DEMO_ROLE} login password '${password}' in role pg_monitor`);
      await bootstrap.end();
      const admin = postgres(server.url(DEMO_DATABASE), {
        max: 6,
        onnotice: () => undefined,
        connection: { application_name: 'pgscope-demo' },
      });
      await createSchema(admin);
      // pg_stats shows column statistics only for tables the role may SELECT: without this the newcomer's first
      // /indexes says every bloat estimate is unavailable. (The pg_monitor-only case is covered by the e2e suite.)
      await admin.unsafe(
        `grant usage on schema shop to ${DEMO_ROLE}; grant select on all tables in schema shop to ${DEMO_ROLE}; grant select on all sequences in schema shop to ${DEMO_ROLE}`,
      );
      const inventory = postgres(server.url(INVENTORY_DATABASE), {
        max: 2,
        onnotice: () => undefined,
        connection: { application_name: 'pgscope-demo' },
      });
      await createInventory(inventory);
      await inventory.unsafe(
        `grant usage on schema stock to ${DEMO_ROLE}; grant select on all tables in schema stock to ${DEMO_ROLE}; grant select on all sequences in schema stock to ${DEMO_ROLE}`,
      );
      const demo = new DemoServer(server, server.url(DEMO_DATABASE, DEMO_ROLE, password), admin, inventory, logger);
      demo.startWorkload();
      return demo;
    } catch (err) {
      await server.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.timers.forEach(clearInterval);
    await this.admin.end({ timeout: 2 }).catch(() => undefined);
    await this.inventory.end({ timeout: 2 }).catch(() => undefined);
    await this.server.stop();
  }

  private every(ms: number, name: string, fn: () => Promise<unknown>): void {
    let busy = false;
    const tick = async () => {
      if (busy || this.stopping) return;
      busy = true;
      try {
        await fn();
      } catch (err) {
        if (!this.stopping) this.logger.debug(`demo workload "${name}": ${(err as Error).message}`);
      } finally {
        busy = false;
      }
    };
    this.timers.push(setInterval(() => void tick(), ms));
    void tick();
  }

  private startWorkload(): void {
    const sql = this.admin;
    this.every(200, 'lookups', async () => {
      const id = 1 + Math.floor(Math.random() * 5000);
      await sql`select * from shop.customers where id = ${id}`;
      await sql`select count(*), sum(total) from shop.orders where customer_id = ${id}`;
      await sql`select p.name, sum(o.quantity) from shop.orders o join shop.products p on p.id = o.product_id
                 where o.created_at > now() - interval '30 days' and o.customer_id = ${id} group by p.name`;
    });
    this.every(1000, 'writes', async () => {
      await sql`update shop.orders set status = 'shipped' where id = ${1 + Math.floor(Math.random() * 50000)}`;
      await sql`insert into shop.events (kind, payload) values ('view', ${'{"page": "home"}'}::jsonb)`;
    });
    this.every(5000, 'report', () => sql`select status, count(*) from shop.orders group by status`);
    // inventory: a large table only ever scanned whole (it needs an index), and stock moving.
    const inv = this.inventory;
    this.every(
      2000,
      'stock lookup',
      () => inv`select * from stock.movements where sku = ${1 + Math.floor(Math.random() * 500)}`,
    );
    this.every(1000, 'stock moves', async () => {
      await inv`insert into stock.movements (sku, quantity) values (${1 + Math.floor(Math.random() * 500)}, 1)`;
      await inv`update stock.items set on_hand = on_hand - 1 where sku = ${1 + Math.floor(Math.random() * 500)}`;
    });
    // A slow statement and a lock chain every 20 s, so /activity has something to show.
    this.every(20_000, 'slow query', () => sql`select pg_sleep(3) /* demo: slow report */`);
    this.every(20_000, 'lock chain', async () => {
      let waiter: Promise<unknown> | undefined;
      await sql.begin(async (holder) => {
        await holder`lock table shop.products in share row exclusive mode`;
        // postgres.js queries are lazy: execute() sends it now, on another pooled connection.
        waiter = sql`update shop.products set price = price where id = 1`.execute().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 4000));
      });
      await waiter;
    });
  }
}

async function createSchema(sql: postgres.Sql): Promise<void> {
  await sql
    .unsafe(
      `
    create extension if not exists pg_stat_statements;
    create extension if not exists pgstattuple;
    create extension if not exists pg_buffercache;
    create schema shop;
    create table shop.customers (id serial primary key, email text not null unique, name text, created_at timestamptz default now());
    create table shop.products (id serial primary key, name text not null, price numeric(10,2) not null);
    create table shop.orders (
      id serial primary key, customer_id int not null references shop.customers, product_id int not null references shop.products,
      quantity int not null, total numeric(12,2) not null, status text not null default 'new', note text,
      created_at timestamptz not null default now());
    create table shop.events (id bigserial primary key, kind text not null, payload jsonb, at timestamptz default now());
    insert into shop.customers (email, name) select 'user' || g || '@example.com', 'User ' || g from generate_series(1, 5000) g;
    insert into shop.products (name, price) select 'Product ' || g, (g % 100) + 0.99 from generate_series(1, 200) g;
    insert into shop.orders (customer_id, product_id, quantity, total, created_at)
      select 1 + g % 5000, 1 + g % 200, 1 + g % 5, (1 + g % 5) * 9.99, now() - (g % 60) * interval '1 day'
      from generate_series(1, 50000) g;
    create index orders_customer_idx on shop.orders (customer_id);
    create index orders_customer_created_idx on shop.orders (customer_id, created_at);
    create index orders_note_idx on shop.orders (note);
    create index orders_status_idx on shop.orders (status);
    create index orders_status_dup_idx on shop.orders (status);
    create index events_payload_idx on shop.events using gin (payload);
    analyze;
    delete from shop.orders where id % 5 = 0;
  `,
    )
    .simple();
}

/** The inventory database: a table that needs an index, an unused one, an invalid one left by a failed build. */
async function createInventory(sql: postgres.Sql): Promise<void> {
  await sql
    .unsafe(
      `
    create extension if not exists pg_stat_statements;
    create schema stock;
    create table stock.items (sku int primary key, name text not null, on_hand int not null default 0);
    create table stock.movements (id bigserial primary key, sku int not null, quantity int not null, at timestamptz default now());
    insert into stock.items select g, 'Item ' || g, 100 from generate_series(1, 500) g;
    insert into stock.movements (sku, quantity) select 1 + g % 500, 1 + g % 3 from generate_series(1, 30000) g;
    create index items_name_idx on stock.items (name);
    insert into stock.items values (501, 'Item 1', 0);
    analyze;
  `,
    )
    .simple();
  // A unique index built concurrently on duplicate names fails and stays behind, invalid.
  await sql.unsafe('create unique index concurrently items_name_uniq on stock.items (name)').catch(() => undefined);
}
