import { DynamicModule, Global, Module } from '@nestjs/common';
import { TARGET_CONFIGS, TargetRegistry } from './registry';
import { TargetConfig } from './targets.config';

/** Provides the TargetRegistry (a DatabaseProvider per watched database of every target) and closes it at shutdown. */
@Global()
@Module({})
export class TargetsModule {
  static forRoot(configs: TargetConfig[]): DynamicModule {
    return {
      module: TargetsModule,
      providers: [{ provide: TARGET_CONFIGS, useValue: configs }, TargetRegistry],
      exports: [TargetRegistry],
    };
  }
}
