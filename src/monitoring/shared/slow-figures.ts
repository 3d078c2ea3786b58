import { Logger } from '@nestjs/common';

export interface Figures<T> {
  value: T;
  /** When the figures were read (the server's clock is not needed: they are served with their age). */
  collectedAt: Date;
}

/**
 * The figures that are costly to read whatever the page asked for (relation sizes, whole-catalogue bloat
 * estimates, database size, shared buffer contents): read at most once per `maxAgeMs` and served with their age.
 * A request that finds them older than that gets them as they are and starts one refresh in the background
 * (stale-while-revalidate, single flight); only the first request ever waits. `maxAgeMs = 0` reads them for every
 * request, in the request's own time.
 */
export class SlowFigures {
  private readonly logger = new Logger('SlowFigures');
  private readonly entries = new Map<string, Figures<unknown>>();
  private readonly pending = new Map<string, Promise<Figures<unknown>>>();

  constructor(readonly maxAgeMs: number) {}

  /** `keep` says whether a value may be served again (a "not installed yet" answer is better asked again). */
  async get<T>(key: string, read: () => Promise<T>, keep: (value: T) => boolean = () => true): Promise<Figures<T>> {
    const entry = this.entries.get(key) as Figures<T> | undefined;
    if (this.maxAgeMs <= 0) return { value: await read(), collectedAt: new Date() };
    if (entry) {
      if (Date.now() - entry.collectedAt.getTime() >= this.maxAgeMs) {
        // Served stale; a failed refresh keeps the old figures (and is tried again by the next request).
        this.refresh(key, read, keep).catch((err: unknown) =>
          this.logger.warn(`refreshing "${key}" failed: ${err instanceof Error ? err.message : String(err)}`),
        );
      }
      return entry;
    }
    return this.refresh(key, read, keep);
  }

  /** Forgets the figures of keys starting with `prefix` (a target or database that went away). */
  forget(prefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  private refresh<T>(key: string, read: () => Promise<T>, keep: (value: T) => boolean): Promise<Figures<T>> {
    let running = this.pending.get(key) as Promise<Figures<T>> | undefined;
    if (!running) {
      running = read()
        .then((value) => {
          const figures = { value, collectedAt: new Date() };
          if (keep(value)) this.entries.set(key, figures);
          else this.entries.delete(key);
          return figures;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    return running;
  }
}
