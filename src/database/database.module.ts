import { DynamicModule, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Env } from '../config/env';
import { DatabaseProvider } from './database.provider';
import { PostgresProvider } from './postgres.provider';

/** Provides the DatabaseProvider for the configured server and closes its pool at shutdown. */
@Global()
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(DatabaseProvider) private readonly db: DatabaseProvider) {}

  static forRoot(env: Env): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: DatabaseProvider,
          useFactory: () =>
            new PostgresProvider({
              url: env.DATABASE_URL ?? '',
              poolMax: env.POOL_MAX,
              queryTimeoutMs: env.QUERY_TIMEOUT_MS,
            }),
        },
      ],
      exports: [DatabaseProvider],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
