import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { DatabaseSnapshot } from '../monitoring/database/database.snapshot';
import { RelationsSnapshot } from '../monitoring/indexes/relations.snapshot';
import { SizesSnapshot } from '../monitoring/shared/sizes.snapshot';
import { StatementsSnapshot } from '../monitoring/statements/statements.snapshot';
import { TargetRegistry } from '../targets/registry';
import { Collector } from './collector';
import { Family } from './family';
import { HistoryService } from './history.service';
import { Leases } from './leases';

/** The collector of the families' snapshots into the history store (none when history is off). */
@Injectable()
export class HistoryCollector implements OnApplicationShutdown {
  readonly families: Family[];
  private collector?: Collector;

  constructor(
    private readonly history: HistoryService,
    private readonly registry: TargetRegistry,
    private readonly leases: Leases,
    statements: StatementsSnapshot,
    database: DatabaseSnapshot,
    relations: RelationsSnapshot,
    sizes: SizesSnapshot,
  ) {
    this.families = [statements, database, relations, sizes] as Family[];
  }

  /** The collector (created on first use: the store is opened by then). */
  get now(): Collector | undefined {
    const store = this.history.storeIfOn;
    if (!store) return undefined;
    this.collector ??= new Collector(this.registry, store, this.families, this.leases);
    return this.collector;
  }

  /** On its cadences (main.ts; tests drive collections through `now.collectNow`). */
  start(): void {
    this.now?.start();
  }

  onApplicationShutdown(): void {
    this.collector?.stop();
  }
}
