import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { TargetNotFoundError } from '../common/errors';
import { Env } from '../config/env';
import { DatabaseProvider } from '../database/database.provider';
import { Target } from './target';
import { TargetConfig } from './targets.config';

/** The injection token of the configured targets (TARGETS_FILE, DATABASE_URL, or the embedded demo's). */
export const TARGET_CONFIGS = Symbol('TARGET_CONFIGS');

/**
 * The targets of this instance, by name, and how a request reaches one: `target` (default: the first configured)
 * and, for per-database families, `database` (default: the target's URL database). Each target has its own
 * connections, timeouts and status: one that is down slows or fails no request for another.
 */
@Injectable()
export class TargetRegistry implements OnApplicationShutdown {
  private readonly logger = new Logger('TargetRegistry');
  private targets = new Map<string, Target>();

  constructor(
    @Inject(TARGET_CONFIGS) configs: TargetConfig[],
    @Inject(Env) private readonly env: Env,
  ) {
    for (const config of configs) this.targets.set(config.name, new Target(config, env.TARGETS_CHECK_MS));
  }

  /** Starts every target's periodic check (main.ts; tests drive checks themselves where they need them). */
  start(): void {
    for (const target of this.targets.values()) target.start();
  }

  list(): Target[] {
    return [...this.targets.values()];
  }

  /** The named target, or the first when no name is given. */
  get(name?: string): Target {
    const target = name === undefined ? this.targets.values().next().value : this.targets.get(name);
    if (!target) throw new TargetNotFoundError(name ?? '(none configured)', [...this.targets.keys()]);
    return target;
  }

  /** The provider a request reads through: the target's URL database, or `database` of it. */
  async resolve(target?: string, database?: string): Promise<DatabaseProvider> {
    return this.get(target).database(database);
  }

  /**
   * A new configuration (SIGHUP): targets added are started, removed ones closed once their reads in flight finish,
   * changed ones replaced; the others keep their connections and state.
   */
  async reload(configs: TargetConfig[]): Promise<void> {
    const next = new Map<string, Target>();
    const closing: Target[] = [];
    for (const config of configs) {
      const current = this.targets.get(config.name);
      if (current && JSON.stringify(current.config) === JSON.stringify(config)) {
        next.set(config.name, current);
        continue;
      }
      if (current) closing.push(current);
      const target = new Target(config, this.env.TARGETS_CHECK_MS);
      target.start();
      next.set(config.name, target);
    }
    for (const [name, target] of this.targets) if (!next.has(name)) closing.push(target);
    const added = [...next.keys()].filter((n) => !this.targets.has(n));
    const removed = [...this.targets.keys()].filter((n) => !next.has(n));
    this.targets = next;
    this.logger.log(
      `configuration reloaded: ${next.size} target(s)` +
        (added.length ? `, added ${added.join(', ')}` : '') +
        (removed.length ? `, removed ${removed.join(', ')}` : ''),
    );
    await Promise.all(closing.map((t) => t.close()));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.list().map((t) => t.close()));
  }
}
