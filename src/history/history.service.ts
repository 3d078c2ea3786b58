import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import path from 'node:path';
import { Env } from '../config/env';
import { EmbeddedPostgres } from '../embedded/embedded';
import { HistoryDisabledError, HistoryStore } from './store';
import { parseWindow, Window, WindowParams } from './window';

/**
 * pgscope's history store: embedded in HISTORY_DIR by default, HISTORY_DATABASE_URL, or none with HISTORY=off.
 * Opened before the application serves (migrations run then; a store written by a newer pgscope stops the start),
 * closed after. The collector (HistoryCollector) fills it; windowed reads read it.
 */
@Injectable()
export class HistoryService implements OnApplicationShutdown {
  private readonly logger = new Logger('History');
  private embedded?: EmbeddedPostgres;
  private opened?: HistoryStore;

  constructor(@Inject(Env) private readonly env: Env) {}

  get enabled(): boolean {
    return this.env.HISTORY === 'on';
  }

  /** The store, for windowed reads: 409 HISTORY_DISABLED when history is off. */
  get store(): HistoryStore {
    if (!this.opened) throw new HistoryDisabledError();
    return this.opened;
  }

  /**
   * The window a request asks for (window, or from and to), validated (400 naming the parameter), or undefined for
   * a live answer; with history off, any of them is a 409 HISTORY_DISABLED.
   */
  window(query: WindowParams): Window | undefined {
    const window = parseWindow(query, this.env.HISTORY_RETENTION_DAYS);
    if (window && !this.opened) throw new HistoryDisabledError();
    return window;
  }

  /** Starts the embedded store if it is the one, applies the migrations. */
  async open(): Promise<void> {
    if (!this.enabled || this.opened) return;
    let url = this.env.HISTORY_DATABASE_URL;
    if (url === undefined) {
      const dir = path.resolve(this.env.HISTORY_DIR);
      this.embedded = await EmbeddedPostgres.start({ dataDir: dir, settings: { max_connections: 20 } });
      url = this.embedded.url();
      this.logger.log(`embedded history store (PostgreSQL ${this.embedded.major}) in ${dir}`);
    }
    const store = new HistoryStore(
      this.env.HISTORY_DATABASE_URL === undefined ? 'embedded' : 'external',
      url,
      this.env.HISTORY_RETENTION_DAYS,
      this.env.INSTANCE_ID,
      // A fifth of the takeover time, at least 2 s: well past any pause between a write's statements.
      Math.max(2000, this.env.LEASE_TAKEOVER_SECONDS * 200),
    );
    try {
      await store.open();
    } catch (err) {
      await store.close();
      await this.embedded?.stop();
      throw err;
    }
    this.opened = store;
  }

  /** The store if history is on (the collector's view: no error when off). */
  get storeIfOn(): HistoryStore | undefined {
    return this.opened;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.opened?.close();
    await this.embedded?.stop();
  }
}
