import { DynamicModule, Module } from '@nestjs/common';
import { Env } from './config/env';
import { TargetConfig } from './targets/targets.config';
import { TargetsModule } from './targets/targets.module';
import { HistoryModule } from './history/history.module';
import { HealthController } from './health/health.controller';
import { MonitoringModule } from './monitoring/monitoring.module';

@Module({})
export class AppModule {
  static forRoot(env: Env, targets: TargetConfig[]): DynamicModule {
    return {
      module: AppModule,
      imports: [TargetsModule.forRoot(targets), HistoryModule, MonitoringModule],
      controllers: [HealthController],
      providers: [{ provide: Env, useValue: env }],
      exports: [Env],
      global: true,
    };
  }
}
