import { Module } from '@nestjs/common';
import { ActivityController } from './activity/activity.controller';
import { ActivityService } from './activity/activity.service';
import { StatementsController } from './statements/statements.controller';
import { StatementsService } from './statements/statements.service';
import { StatementsHistory } from './statements/statements.history';
import { IndexesController } from './indexes/indexes.controller';
import { IndexesService } from './indexes/indexes.service';
import { IndexesHistory } from './indexes/indexes.history';
import { CacheController } from './cache/cache.controller';
import { CacheService } from './cache/cache.service';
import { CacheHistory } from './cache/cache.history';
import { BloatService } from './bloat/bloat.service';
import { OverviewController } from './overview/overview.controller';
import { OverviewService } from './overview/overview.service';
import { SlowFiguresRegistry } from './shared/sizes';
import { TargetsController } from './targets/targets.controller';
import { HistoryCollector } from '../history/collector.service';
import { HistoryController } from './history/history.controller';
import { HistorySeries } from './history/history.series';
import { LoadController } from './load/load.controller';
import { VacuumController } from './vacuum/vacuum.controller';
import { ReplicationController } from './replication/replication.controller';
import { ReplicationService } from './replication/replication.service';
import { IoService } from './io/io.service';
import { MetricsController } from './metrics/metrics.controller';
import { ChecksController } from './checks/checks.controller';
import { ChecksEvaluator } from '../checks/checks.evaluator';
import { ChecksNotifier } from '../checks/checks.notifier';
import { ChecksRunner } from '../checks/checks.runner';
import { MetricsService } from './metrics/metrics.service';
import { VacuumService } from './vacuum/vacuum.service';
import { LoadHistory } from './load/load.history';
import { LoadSampler } from '../load/load.sampler';
import { DatabaseSnapshot } from './database/database.snapshot';
import { RelationsSnapshot } from './indexes/relations.snapshot';
import { SizesSnapshot } from './shared/sizes.snapshot';
import { StatementsSnapshot } from './statements/statements.snapshot';

/** One injectable service per metric family, each reading through DatabaseProvider. */
@Module({
  controllers: [
    OverviewController,
    ActivityController,
    StatementsController,
    IndexesController,
    CacheController,
    TargetsController,
    HistoryController,
    LoadController,
    VacuumController,
    ReplicationController,
    MetricsController,
    ChecksController,
  ],
  providers: [
    OverviewService,
    ActivityService,
    StatementsService,
    StatementsHistory,
    IndexesService,
    IndexesHistory,
    BloatService,
    CacheService,
    CacheHistory,
    SlowFiguresRegistry,
    StatementsSnapshot,
    DatabaseSnapshot,
    RelationsSnapshot,
    SizesSnapshot,
    HistoryCollector,
    HistorySeries,
    LoadHistory,
    LoadSampler,
    VacuumService,
    ReplicationService,
    IoService,
    MetricsService,
    ChecksEvaluator,
    ChecksNotifier,
    ChecksRunner,
  ],
  exports: [HistoryCollector, LoadSampler, ChecksRunner],
})
export class MonitoringModule {}
