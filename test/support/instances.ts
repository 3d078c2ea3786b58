import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { EmbeddedPostgres } from '../../src/embedded/embedded';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'main.js');

/** A pgscope process (dist/main.js) of a scale-out scenario: its id, port and log. */
export class Instance {
  log = '';

  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** Starts `node dist/main.js` with `env` and waits for it to say it is ready. */
  static async start(id: string, env: Record<string, string>): Promise<Instance> {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', INSTANCE_ID: id, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} did not start:\n${log}`)), 60_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const m = /pgscope is ready: Swagger UI at http:\/\/127\.0\.0\.1:(\d+)\//.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${id} exited (${code}) before it was ready:\n${log}`));
      });
    });
    const instance = new Instance(id, child, port);
    instance.log = log;
    const append = (chunk: Buffer) => (instance.log += chunk.toString());
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    return instance;
  }

  async get<T = any>(url: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${url}`);
    return { status: res.status, body: (await res.json()) as T };
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: no shutdown, no lease given back. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: frozen, its sockets (and the store's session holding its lock) left open: a hung host. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** SIGTERM, and waits for the exit (SIGKILL after 15 s). */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

/** An external history store: an embedded PostgreSQL in a directory of its own, restartable on its port. */
export class Store {
  private constructor(
    public server: EmbeddedPostgres,
    readonly dir: string,
  ) {}

  static async start(): Promise<Store> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-store-'));
    const server = await EmbeddedPostgres.start({ dataDir: dir, settings: { max_connections: 100 } });
    return new Store(server, dir);
  }

  get url(): string {
    return this.server.url();
  }

  sql(): postgres.Sql {
    return postgres(this.url, { max: 2, onnotice: () => undefined, connect_timeout: 5 });
  }

  /** Stops the server (its clients' sessions end) and starts it again on the same port and data. */
  async restart(downMs: number): Promise<void> {
    const port = this.server.port;
    await this.server.stop();
    await new Promise((r) => setTimeout(r, downMs));
    this.server = await EmbeddedPostgres.start({ dataDir: this.dir, port, settings: { max_connections: 100 } });
  }

  async stop(): Promise<void> {
    await this.server.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Chains of snapshots that break "every interval counted once": a snapshot whose deltas are taken against a
 * moment that is not the previous snapshot of its target, family and database (two writers interleaved, or a
 * writer continuing from what it knew after another wrote).
 */
export async function brokenChains(sql: postgres.Sql): Promise<unknown[]> {
  return [
    ...(await sql`
    select * from (
      select target_id, family, dbid, at, prev_at, instance,
             lag(at) over w as before, lag(instance) over w as before_instance
        from snapshots window w as (partition by target_id, family, dbid order by at)) s
     where prev_at is not null and prev_at is distinct from before`),
  ];
}
