import { AppError } from '../../common/errors';

export class PgStatStatementsUnavailableError extends AppError {
  constructor(reason: 'not_preloaded' | 'not_installed', database: string) {
    super(
      'PG_STAT_STATEMENTS_UNAVAILABLE',
      503,
      'pg_stat_statements unavailable',
      reason === 'not_preloaded'
        ? 'pg_stat_statements is not loaded: it is missing from shared_preload_libraries, so it collects nothing.'
        : `The pg_stat_statements extension is not created in database "${database}".`,
      reason === 'not_preloaded'
        ? "Add pg_stat_statements to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', keeping any libraries already listed), restart PostgreSQL, then run CREATE EXTENSION IF NOT EXISTS pg_stat_statements; in this database."
        : 'Run CREATE EXTENSION pg_stat_statements; in this database (as a role allowed to create extensions).',
    );
  }
}
