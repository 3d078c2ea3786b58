import { Global, Module, OnModuleInit } from '@nestjs/common';
import { HistoryService } from './history.service';

/** The history store (its collector and readers are in MonitoringModule, beside the families they read). */
@Global()
@Module({ providers: [HistoryService], exports: [HistoryService] })
export class HistoryModule implements OnModuleInit {
  constructor(private readonly history: HistoryService) {}

  async onModuleInit(): Promise<void> {
    await this.history.open();
  }
}
