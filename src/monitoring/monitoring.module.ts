import { Module } from '@nestjs/common';
import { OverviewController } from './overview/overview.controller';
import { OverviewService } from './overview/overview.service';

/** One injectable service per metric family, each reading through DatabaseProvider. */
@Module({
  controllers: [OverviewController],
  providers: [OverviewService],
})
export class MonitoringModule {}
