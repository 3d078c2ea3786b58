import { Global, Module, OnModuleInit } from '@nestjs/common';
import { HistoryService } from './history.service';
import { Leases } from './leases';

/** The history store and its leases (its collector and readers are in MonitoringModule, beside the families they read). */
@Global()
@Module({ providers: [HistoryService, Leases], exports: [HistoryService, Leases] })
export class HistoryModule implements OnModuleInit {
  constructor(private readonly history: HistoryService) {}

  async onModuleInit(): Promise<void> {
    await this.history.open();
  }
}
