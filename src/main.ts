import 'reflect-metadata';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { createApp } from './app.setup';
import { apiTokens, ConfigError, Env, isLoopback, loadEnv, LOG_LEVELS } from './config/env';
import { DemoServer } from './embedded/demo';
import { HistoryCollector } from './history/collector.service';
import { Leases } from './history/leases';
import { LoadSampler } from './load/load.sampler';
import { loadChecksConfig } from './checks/checks.config';
import { ChecksRunner } from './checks/checks.runner';
import { TargetRegistry } from './targets/registry';
import { loadTargets, TargetConfig, targetFromUrl } from './targets/targets.config';

/** How long requests in flight get to finish after SIGTERM/SIGINT. */
const SHUTDOWN_GRACE_MS = 10_000;

async function bootstrap(): Promise<void> {
  let env: Env;
  let targets: TargetConfig[];
  try {
    env = loadEnv();
    targets = loadTargets(env);
    // CHECKS_FILE is read again by the checks runner: here it fails the start with one line naming the key.
    loadChecksConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = new ConsoleLogger('pgscope', {
    logLevels: [...LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(env.LOG_LEVEL) + 1)],
  });
  const log = new Logger('pgscope');
  const tokens = apiTokens(env);
  if (tokens.length === 0 && !isLoopback(env.HOST)) {
    if (!env.ALLOW_UNAUTHENTICATED) {
      process.stderr.write(
        `Refusing to serve on ${env.HOST} without authentication: set API_TOKENS (or API_TOKENS_FILE), bind HOST=127.0.0.1, or set ALLOW_UNAUTHENTICATED=true\n`,
      );
      process.exit(1);
    }
    log.warn(`ALLOW_UNAUTHENTICATED=true: /api on ${env.HOST} is open to anyone who can reach it`);
  }

  let demo: DemoServer | undefined;
  if (targets.length === 0) {
    log.log('Neither DATABASE_URL nor TARGETS_FILE is set: starting an embedded PostgreSQL with a demo workload');
    demo = await DemoServer.start(new Logger('demo'));
    process.once('exit', () => demo?.server.killSync());
    // One target, every database of the embedded server: the shop demo and a second, smaller one.
    targets = [targetFromUrl('demo', demo.url, env, { databases: 'all', labels: { env: 'demo' } })];
    // Short cadences, so that a newcomer sees windows fill within a minute (unless set explicitly).
    for (const name of [
      'HISTORY_STATEMENTS_INTERVAL',
      'HISTORY_DATABASE_INTERVAL',
      'HISTORY_RELATIONS_INTERVAL',
      'HISTORY_SIZES_INTERVAL',
    ] as const) {
      if (!process.env[name]) env[name] = 10_000;
    }
    log.log(
      `embedded PostgreSQL ${demo.server.major} (pid ${demo.server.pid}, data ${demo.server.dataDir}) on 127.0.0.1:${demo.server.port}, databases ${demo.databases.map((d) => `"${d}"`).join(', ')}`,
    );
  }

  const app = await createApp(env, { logger, targets });
  const registry = app.get(TargetRegistry);
  // SIGHUP re-reads TARGETS_FILE: targets added start, removed ones close once their reads finish. A bad file
  // keeps the running configuration and says why, in one line.
  process.on('SIGHUP', () => {
    if (env.TARGETS_FILE === undefined) {
      log.warn('SIGHUP: no TARGETS_FILE to reload');
      return;
    }
    try {
      void registry.reload(loadTargets(env));
    } catch (err) {
      log.error(`SIGHUP: ${err instanceof Error ? err.message : String(err)}; the running configuration stays`);
    }
  });
  let closing = false;
  let signals = 0;
  const shutdown = async (signal: string): Promise<void> => {
    signals++;
    if (closing) {
      // A process manager often signals twice (npm forwards what the process group already got): keep closing
      // cleanly. A third signal means "now": stop the embedded server at once and leave.
      if (signals >= 3) {
        log.warn(`${signal} received again: stopping now`);
        demo?.server.killSync();
        process.exit(1);
      }
      log.log(`${signal} received again: already closing (a third signal stops at once)`);
      return;
    }
    closing = true;
    log.log(`${signal} received: finishing requests and closing`);
    // Requests in flight finish; keep-alive connections are closed as soon as they fall idle (Node closes only
    // those idle at the moment close() starts), and after SHUTDOWN_GRACE_MS whatever is left is cut.
    const server = app.getHttpServer();
    const reaper = setInterval(() => server.closeIdleConnections(), 100);
    const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    try {
      await app.close();
      clearInterval(reaper);
      clearTimeout(cut);
      await demo?.stop();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  watchParent(() => void shutdown('parent exit'));

  await app.listen(env.PORT, env.HOST);
  registry.start();
  // Instances sharing one store: the first renewal takes this instance's share before the collectors start.
  const leases = app.get(Leases);
  leases.start();
  await leases.renewNow();
  app.get(HistoryCollector).start();
  app.get(LoadSampler).start();
  app.get(ChecksRunner).start();
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  log.log(`pgscope is ready: Swagger UI at http://${host}:${port}/docs`);
}

/**
 * Under `npm start` the parent is npm. The start script execs node, so npm's own forwarding reaches it; should npm
 * die without forwarding (SIGKILL, a crash), the service is orphaned: it notices its parent changed and closes.
 */
function watchParent(onExit: () => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) onExit();
  }, 1000).unref();
}

bootstrap().catch((err: unknown) => {
  process.stderr.write(`pgscope failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
