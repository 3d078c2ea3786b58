import { DynamicModule, Module } from '@nestjs/common';
import { Env } from './config/env';
import { DatabaseModule } from './database/database.module';
import { HealthController } from './health/health.controller';
import { MonitoringModule } from './monitoring/monitoring.module';

@Module({})
export class AppModule {
  static forRoot(env: Env): DynamicModule {
    return {
      module: AppModule,
      imports: [DatabaseModule.forRoot(env), MonitoringModule],
      controllers: [HealthController],
      providers: [{ provide: Env, useValue: env }],
      exports: [Env],
      global: true,
    };
  }
}
