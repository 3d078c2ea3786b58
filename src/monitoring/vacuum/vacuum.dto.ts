import { ApiProperty } from '@nestjs/swagger';
import { intProp as int, numProp as num, textProp as text, timeProp as time } from '../shared/props';
import { IntParam, NameParam } from '../../http/query';
import { MetaDto } from '../shared/meta.dto';
import { DatabaseQueryDto } from '../shared/target-query.dto';

export const VACUUM_DEFAULTS = { limit: 50 };

export class VacuumQueryDto extends DatabaseQueryDto {
  @NameParam('Only tables of this schema (exact name)', 'public')
  schema?: string;

  @NameParam('Only this table (exact name)', 'orders')
  table?: string;

  @IntParam('Maximum rows of tables and sequences (the most urgent first)', 1, 1000, VACUUM_DEFAULTS.limit)
  limit?: number;
}

export class WraparoundDto {
  @ApiProperty(
    int('age(datfrozenxid) (or mxid_age(datminmxid)): transactions since its oldest unfrozen one', 210000000),
  )
  age!: number;

  @ApiProperty(
    num(
      'age over autovacuum_freeze_max_age (multixact: autovacuum_multixact_freeze_max_age): ≥ 1, forced vacuums run',
      1.05,
    ),
  )
  shareOfFreezeMaxAge!: number;

  @ApiProperty(num('age over the hard limit (2^31 − 1 less the stop margin): at 1 the server refuses writes', 0.098))
  shareOfLimit!: number;

  @ApiProperty(int('How many more can be assigned before the server refuses writes', 1934483647))
  left!: number;
}

export class DatabaseVacuumDto {
  @ApiProperty({ description: 'pg_database.datname', example: 'app' })
  name!: string;

  @ApiProperty({ description: 'datallowconn (template0 does not: autovacuum still freezes it)', example: true })
  allowsConnections!: boolean;

  @ApiProperty({ type: WraparoundDto, description: 'Transaction IDs' })
  xid!: WraparoundDto;

  @ApiProperty({ type: WraparoundDto, description: 'Multixact IDs' })
  multixact!: WraparoundDto;
}

export const AUTOVACUUM_DUE = ['freeze', 'vacuum', 'analyze', 'none'] as const;
export type AutovacuumDue = (typeof AUTOVACUUM_DUE)[number];

export class ThresholdDto {
  @ApiProperty(
    num('What autovacuum compares (dead tuples, inserts since the last vacuum, changes since the last analyze)', 5000),
  )
  value!: number;

  @ApiProperty(num('Its threshold as PostgreSQL computes it (float4): base + scale_factor × reltuples', 250))
  threshold!: number;

  @ApiProperty(int('The base (…_threshold), the table’s own where its reloptions set it', 50))
  base!: number;

  @ApiProperty(num('The scale factor (…_scale_factor), the table’s own where its reloptions set it', 0.2))
  scaleFactor!: number;

  @ApiProperty({ description: 'value > threshold: autovacuum would take the table for this', example: true })
  due!: boolean;
}

export class TableVacuumDto {
  @ApiProperty({ description: 'Schema', example: 'public' })
  schema!: string;

  @ApiProperty({ description: 'Table (or materialized view)', example: 'orders' })
  table!: string;

  @ApiProperty({
    enum: AUTOVACUUM_DUE,
    enumName: 'AutovacuumDue',
    description:
      'What autovacuum would do now: freeze (an anti-wraparound vacuum, forced even when autovacuum is off), ' +
      'vacuum (dead tuples or inserts over their threshold), analyze, none',
    example: 'vacuum',
  })
  autovacuumDue!: AutovacuumDue;

  @ApiProperty(
    num(
      'The largest of its figures over their thresholds (dead tuples, inserts, changes, XID and multixact ages): ≥ 1 is due; the order of tables after forced freezes',
      2.4,
    ),
  )
  urgency!: number;

  @ApiProperty({
    description: 'Why, with the figures',
    example: 'dead tuples 5000 > threshold 250 (50 + 0.2 × 1000 reltuples)',
  })
  reason!: string;

  @ApiProperty({
    description:
      'false: autovacuum_enabled=false on the table (or autovacuum off on the server): only a forced freeze runs',
    example: true,
  })
  autovacuumEnabled!: boolean;

  @ApiProperty({
    type: [String],
    description: 'The table’s autovacuum reloptions (they override the server’s settings)',
    example: ['autovacuum_vacuum_scale_factor=0.01'],
  })
  overrides!: string[];

  @ApiProperty(num('pg_class.reltuples (the estimate the thresholds scale; −1, never counted, as 0)', 1000))
  reltuples!: number;

  @ApiProperty(int('pg_stat_all_tables.n_live_tup', 1000, true))
  liveTuples!: number | null;

  @ApiProperty({
    type: ThresholdDto,
    description: 'Dead tuples against the vacuum threshold (capped by autovacuum_vacuum_max_threshold on 18)',
  })
  vacuum!: ThresholdDto;

  @ApiProperty({
    type: ThresholdDto,
    nullable: true,
    description:
      'Inserts since the last vacuum against the insert threshold (on 18 scaled by the unfrozen pages); null when autovacuum_vacuum_insert_threshold is −1',
  })
  insert!: ThresholdDto | null;

  @ApiProperty({ type: ThresholdDto, description: 'Changes since the last analyze against the analyze threshold' })
  analyze!: ThresholdDto;

  @ApiProperty(int('age(relfrozenxid)', 150000000))
  xidAge!: number;

  @ApiProperty(
    int('The freeze age that forces a vacuum: autovacuum_freeze_max_age, or the table’s lower own', 200000000),
  )
  freezeMaxAge!: number;

  @ApiProperty(int('mxid_age(relminmxid)', 12))
  mxidAge!: number;

  @ApiProperty(int('autovacuum_multixact_freeze_max_age, or the table’s lower own', 400000000))
  multixactFreezeMaxAge!: number;

  @ApiProperty(time('Last manual VACUUM'))
  lastVacuum!: string | null;

  @ApiProperty(time('Last autovacuum'))
  lastAutovacuum!: string | null;

  @ApiProperty(time('Last manual ANALYZE'))
  lastAnalyze!: string | null;

  @ApiProperty(time('Last autoanalyze'))
  lastAutoanalyze!: string | null;

  @ApiProperty(int('Manual vacuums since the statistics reset', 1, true))
  vacuumCount!: number | null;

  @ApiProperty(int('Autovacuums', 12, true))
  autovacuumCount!: number | null;

  @ApiProperty(int('Manual analyzes', 1, true))
  analyzeCount!: number | null;

  @ApiProperty(int('Autoanalyzes', 20, true))
  autoanalyzeCount!: number | null;
}

export const HOLDER_KINDS = ['session', 'replication_slot', 'prepared_transaction', 'standby'] as const;

export class HorizonHolderDto {
  @ApiProperty({ enum: HOLDER_KINDS, enumName: 'HorizonHolderKind', description: 'What holds it', example: 'session' })
  kind!: (typeof HOLDER_KINDS)[number];

  @ApiProperty(int('Its age in transactions: the oldest of its xmin, xid and catalog_xmin', 1200000))
  age!: number;

  @ApiProperty(
    num(
      'Since when it holds it, in ms (a session’s transaction, a prepared transaction, an inactive slot on 17+); null when unknown',
      3600000,
      true,
    ),
  )
  ageMs!: number | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Backend pid (a session, a standby’s walsender, a slot’s active pid)',
    example: 4242,
  })
  pid!: number | null;

  @ApiProperty(text('The slot’s name, the prepared transaction’s gid, the standby’s application_name', null))
  name!: string | null;

  @ApiProperty(text('Database', 'app'))
  database!: string | null;

  @ApiProperty(text('Role (a prepared transaction’s owner)', 'app_user'))
  user!: string | null;

  @ApiProperty(text('application_name', 'billing-worker'))
  application!: string | null;

  @ApiProperty(text('A session’s state (idle in transaction …), a standby’s', 'idle in transaction'))
  state!: string | null;

  @ApiProperty(int('age(backend_xmin), age(slot xmin)', 1200000, true))
  xminAge!: number | null;

  @ApiProperty(int('age(backend_xid), age(prepared transaction)', null, true))
  xidAge!: number | null;

  @ApiProperty(int('A logical slot’s age(catalog_xmin)', null, true))
  catalogXminAge!: number | null;

  @ApiProperty({ type: 'boolean', nullable: true, description: 'A slot: in use now', example: null })
  active!: boolean | null;

  @ApiProperty(text('A slot’s type (physical, logical), a session’s backend type', 'client backend'))
  type!: string | null;

  @ApiProperty(text('A standby’s client address', null))
  clientAddr!: string | null;

  @ApiProperty({
    description: 'How to release it (never run by pgscope)',
    example: 'SELECT pg_terminate_backend(4242);',
  })
  hint!: string;
}

export class HorizonDto {
  @ApiProperty(int('The oldest xmin held, as an age in transactions (0: nothing holds the horizon)', 1200000))
  oldestAge!: number;

  @ApiProperty({ type: [HorizonHolderDto], description: 'Each holder, the oldest (the worst) first' })
  holders!: HorizonHolderDto[];
}

export class ProgressDto {
  @ApiProperty({
    description:
      'VACUUM, ANALYZE, CREATE INDEX (CONCURRENTLY), REINDEX, CLUSTER, VACUUM FULL, COPY FROM/TO, BASE_BACKUP',
    example: 'VACUUM',
  })
  command!: string;

  @ApiProperty({ type: 'integer', description: 'Backend pid', example: 4242 })
  pid!: number;

  @ApiProperty(text('Database', 'app'))
  database!: string | null;

  @ApiProperty(
    text(
      'The relation (schema-qualified where not on the search path); null in another database than the one asked',
      'orders',
    ),
  )
  relation!: string | null;

  @ApiProperty(text('The view’s phase', 'scanning heap'))
  phase!: string | null;

  @ApiProperty(int('Done of the phase’s counter (blocks, tuples or bytes)', 4000, true))
  done!: number | null;

  @ApiProperty(int('Its total; null where the view gives none', 10000, true))
  total!: number | null;

  @ApiProperty({ description: 'What done and total count', example: 'blocks' })
  unit!: string;

  @ApiProperty(num('done / total, 0..1; null without a total', 0.4, true))
  share!: number | null;

  @ApiProperty(time('When it started (pg_stat_activity.query_start)'))
  startedAt!: string | null;

  @ApiProperty(num('Elapsed, ms', 12000, true))
  elapsedMs!: number | null;

  @ApiProperty(num('Time left at the rate so far, ms; null without a share', 18000, true))
  etaMs!: number | null;

  @ApiProperty(text('Role', 'postgres'))
  user!: string | null;

  @ApiProperty(text('application_name', 'psql'))
  application!: string | null;
}

export class SequenceDto {
  @ApiProperty({ description: 'Schema', example: 'public' })
  schema!: string;

  @ApiProperty({ description: 'Sequence', example: 'orders_id_seq' })
  name!: string;

  @ApiProperty({ description: 'smallint, integer or bigint', example: 'integer' })
  dataType!: string;

  @ApiProperty(int('last_value; null if never called or not readable by the role (see readable)', 2040109465, true))
  lastValue!: number | null;

  @ApiProperty(int('minvalue', 1))
  minValue!: number;

  @ApiProperty(int('maxvalue (the type’s maximum unless set lower)', 2147483647))
  maxValue!: number;

  @ApiProperty(int('increment', 1))
  increment!: number;

  @ApiProperty({ description: 'CYCLE: wraps around instead of failing', example: false })
  cycle!: boolean;

  @ApiProperty({ description: 'The role may read it (SELECT or USAGE)', example: true })
  readable!: boolean;

  @ApiProperty(
    num('How far it has gone from its start to its end (maxvalue, or minvalue descending), 0..1', 0.95, true),
  )
  share!: number | null;
}

export class VacuumResponseDto {
  @ApiProperty({ type: MetaDto, description: 'When and how this answer was collected' })
  meta!: MetaDto;

  @ApiProperty({ description: 'The database the tables and sequences are of', example: 'app' })
  database!: string;

  @ApiProperty({ type: [DatabaseVacuumDto], description: 'Every database of the server, the oldest first' })
  databases!: DatabaseVacuumDto[];

  @ApiProperty({
    type: [TableVacuumDto],
    description: 'Tables of `database`, the most urgent first (urgency: the largest figure over its threshold)',
  })
  tables!: TableVacuumDto[];

  @ApiProperty({ type: HorizonDto, description: 'The xmin horizon and who holds it, cluster-wide' })
  horizon!: HorizonDto;

  @ApiProperty({ type: [ProgressDto], description: 'Long operations running now, the oldest first' })
  progress!: ProgressDto[];

  @ApiProperty({ type: [SequenceDto], description: 'Sequences of `database` nearest their end first' })
  sequences!: SequenceDto[];
}
