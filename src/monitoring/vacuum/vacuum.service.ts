import { Injectable } from '@nestjs/common';
import { DatabaseProvider } from '../../database/database.provider';
import { quoteIdent, quoteLiteral } from '../shared/sql-quote';
import { buildMeta, pgMonitorWarning, warning, WarningDto } from '../shared/meta.dto';
import {
  AutovacuumDue,
  HorizonHolderDto,
  ProgressDto,
  TableVacuumDto,
  ThresholdDto,
  VACUUM_DEFAULTS,
  VacuumQueryDto,
  VacuumResponseDto,
  WraparoundDto,
} from './vacuum.dto';
import {
  databaseAgesQuery,
  HolderRow,
  horizonQuery,
  progressQuery,
  sequencesQuery,
  stopMargins,
  tablesVacuumQuery,
  TableVacuumRow,
  WRAP_AGE,
} from './vacuum.sql';

const round = (v: number, d = 4) => Math.round(v * 10 ** d) / 10 ** d;

/**
 * Maintenance: wraparound per database, autovacuum's verdict per table (its own arithmetic), the xmin horizon and
 * who holds it, the long operations running, and the sequences nearest their end. Live only, one read-only
 * transaction.
 */
@Injectable()
export class VacuumService {
  async getVacuum(db: DatabaseProvider, query: VacuumQueryDto): Promise<VacuumResponseDto> {
    const started = performance.now();
    const limit = query.limit ?? VACUUM_DEFAULTS.limit;
    return db.read('vacuum', async ({ sql, info }) => {
      const major = info.major;
      const margins = stopMargins(major);
      const databases = await databaseAgesQuery(sql);
      const tables = await tablesVacuumQuery(sql, major, { schema: query.schema, table: query.table, limit });
      const holders = await horizonQuery(sql, major);
      const progress = await progressQuery(sql, major);
      const sequences = await sequencesQuery(sql, limit);
      const [{ unreadable }] = await sql<{ unreadable: string[] }[]>`
        select /* pgscope */ coalesce(json_agg(q.name order by q.name), '[]') as unreadable from (
          select quote_ident(schemaname) || '.' || quote_ident(sequencename) as name from pg_catalog.pg_sequences s
           where not (pg_catalog.has_sequence_privilege(
                        (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass, 'SELECT')
                      or pg_catalog.has_sequence_privilege(
                        (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass, 'USAGE'))
           order by 1 limit 20) q`;

      const warnings: WarningDto[] = [];
      if (!info.pgMonitor && !info.superuser) {
        warnings.push(
          pgMonitorWarning(info, "other roles' sessions show no xmin: the horizon may be held by one not listed."),
        );
      }
      if (unreadable.length > 0) {
        warnings.push(
          warning(
            'INSUFFICIENT_PRIVILEGE',
            `Role "${info.currentUser}" may not read ${unreadable.length === 20 ? '20 or more' : unreadable.length} sequence(s) (${unreadable.slice(0, 5).join(', ')}${unreadable.length > 5 ? ', …' : ''}): their lastValue is null.`,
            `GRANT SELECT ON ${unreadable.map((n) => `SEQUENCE ${n}`).slice(0, 1)[0]} TO ${quoteIdent(info.currentUser)}; (or GRANT SELECT ON ALL SEQUENCES IN SCHEMA … TO ${quoteIdent(info.currentUser)};)`,
          ),
        );
      }
      const wrap = (age: number, freezeMaxAge: number, margin: number): WraparoundDto => ({
        age,
        shareOfFreezeMaxAge: round(age / freezeMaxAge, 6),
        shareOfLimit: round(age / (WRAP_AGE - margin), 6),
        left: Math.max(0, WRAP_AGE - margin - age),
      });
      const now = Date.now();
      return {
        meta: buildMeta(info, started, warnings),
        database: info.currentDatabase,
        databases: databases.map((d) => ({
          name: d.name,
          allowsConnections: d.allowsConnections,
          xid: wrap(Number(d.xidAge), Number(d.freezeMaxAge), margins.xid),
          multixact: wrap(Number(d.mxidAge), Number(d.multixactFreezeMaxAge), margins.mxid),
        })),
        tables: tables.map(presentTable),
        horizon: {
          oldestAge: holders.length > 0 ? holderAge(holders[0]) : 0,
          holders: holders.map((h) => presentHolder(h, now)),
        },
        progress: progress.map((p): ProgressDto => {
          const done = p.done === null ? null : Number(p.done);
          const total = p.total === null ? null : Number(p.total);
          const share = done !== null && total ? Math.min(1, done / total) : null;
          const elapsedMs = p.elapsedMs === null ? null : Math.round(p.elapsedMs);
          return {
            command: p.command,
            pid: p.pid,
            database: p.database,
            relation: p.relation,
            phase: p.phase,
            done,
            total,
            unit: p.unit,
            share: share === null ? null : round(share),
            startedAt: p.startedAt?.toISOString() ?? null,
            elapsedMs,
            etaMs: share && share < 1 && elapsedMs !== null ? Math.round((elapsedMs * (1 - share)) / share) : null,
            user: p.user,
            application: p.application,
          };
        }),
        sequences: sequences.map((s) => ({
          ...s,
          lastValue: s.lastValue === null ? null : Number(s.lastValue),
          minValue: Number(s.minValue),
          maxValue: Number(s.maxValue),
          increment: Number(s.increment),
          share: s.share === null ? null : round(s.share, 6),
        })),
      };
    });
  }
}

const holderAge = (h: HolderRow) =>
  Math.max(Number(h.xminAge ?? 0), Number(h.xidAge ?? 0), Number(h.catalogXminAge ?? 0));

function presentHolder(h: HolderRow, now: number): HorizonHolderDto {
  const hint =
    h.kind === 'session'
      ? `SELECT pg_terminate_backend(${h.pid});`
      : h.kind === 'replication_slot'
        ? `SELECT pg_drop_replication_slot(${quoteLiteral(h.name ?? '')});${h.active ? ` (active: stop its consumer, pid ${h.pid}, first)` : ''}`
        : h.kind === 'prepared_transaction'
          ? `ROLLBACK PREPARED ${quoteLiteral(h.name ?? '')}; (connected to database ${quoteIdent(h.database ?? '')}, or COMMIT PREPARED if it must take effect)`
          : `On standby ${h.name ?? h.clientAddr ?? ''}: end its long queries, or set hot_standby_feedback = off there`;
  return {
    kind: h.kind,
    age: holderAge(h),
    ageMs: h.since && h.kind !== 'standby' ? Math.max(0, now - h.since.getTime()) : null,
    pid: h.pid,
    name: h.name,
    database: h.database,
    user: h.user,
    application: h.application,
    state: h.state,
    xminAge: h.xminAge === null ? null : Number(h.xminAge),
    xidAge: h.xidAge === null ? null : Number(h.xidAge),
    catalogXminAge: h.catalogXminAge === null ? null : Number(h.catalogXminAge),
    active: h.active,
    type: h.slotType,
    clientAddr: h.clientAddr,
    hint,
  };
}

const fmt = (v: number) => String(round(v, 2));

/** Autovacuum's verdict on one table, from the thresholds the SQL computed as PostgreSQL does. */
export function presentTable(t: TableVacuumRow): TableVacuumDto {
  const reltuples = Number(t.reltuples);
  const threshold = (value: number | null, thr: number, base: number, sf: number): ThresholdDto => ({
    value: Number(value ?? 0),
    threshold: Number(thr),
    base: Number(base),
    scaleFactor: Number(sf),
    // Without a statistics entry autovacuum sees nothing to count.
    due: t.hasStats && Number(value ?? 0) > Number(thr),
  });
  const vacuum = threshold(t.deadTuples, t.vacuumThreshold, t.vacuumBase, t.vacuumScaleFactor);
  const insert =
    t.insertThreshold === null
      ? null
      : threshold(t.insertsSinceVacuum, t.insertThreshold, t.insertBase, t.insertScaleFactor);
  const analyze = threshold(t.modsSinceAnalyze, t.analyzeThreshold, t.analyzeBase, t.analyzeScaleFactor);
  const xidAge = Number(t.xidAge);
  const mxidAge = Number(t.mxidAge);
  const freeze = xidAge > Number(t.freezeMaxAge) || mxidAge > Number(t.multixactFreezeMaxAge);
  const formula = (x: ThresholdDto, capped = false) =>
    `${fmt(x.threshold)} (${x.base} + ${x.scaleFactor} × ${fmt(reltuples)} reltuples${capped ? ', capped' : ''})`;
  let due: AutovacuumDue = 'none';
  const reasons: string[] = [];
  if (freeze) {
    due = 'freeze';
    reasons.push(
      xidAge > Number(t.freezeMaxAge)
        ? `age(relfrozenxid) ${xidAge} > freeze max age ${t.freezeMaxAge}`
        : `mxid_age(relminmxid) ${mxidAge} > multixact freeze max age ${t.multixactFreezeMaxAge}`,
    );
  }
  if (vacuum.due) {
    if (due === 'none') due = 'vacuum';
    const capped =
      t.vacuumMaxThreshold !== null &&
      Number(t.vacuumMaxThreshold) >= 0 &&
      vacuum.threshold === Number(t.vacuumMaxThreshold);
    reasons.push(`dead tuples ${vacuum.value} > threshold ${formula(vacuum, capped)}`);
  }
  if (insert?.due) {
    if (due === 'none') due = 'vacuum';
    reasons.push(
      `inserts since the last vacuum ${insert.value} > insert threshold ${formula(insert)}${t.unfrozenShare !== null && t.unfrozenShare < 1 ? ` × ${fmt(t.unfrozenShare)} unfrozen` : ''}`,
    );
  }
  if (analyze.due) {
    if (due === 'none') due = 'analyze';
    reasons.push(`changes since the last analyze ${analyze.value} > analyze threshold ${formula(analyze)}`);
  }
  if (reasons.length === 0) {
    reasons.push(
      t.hasStats
        ? `below every threshold: dead tuples ${vacuum.value} of ${fmt(vacuum.threshold)}, changes ${analyze.value} of ${fmt(analyze.threshold)}`
        : 'no statistics yet',
    );
  }
  if (!t.enabled && due !== 'none') {
    reasons.push(
      t.autovacuumOn
        ? 'autovacuum_enabled=false on this table: only a forced freeze will run; VACUUM it yourself'
        : 'autovacuum is off on the server: only a forced freeze will run',
    );
  }
  return {
    schema: t.schema,
    table: t.table,
    autovacuumDue: due,
    urgency: round(Number(t.urgency)),
    reason: reasons.join('; '),
    autovacuumEnabled: t.enabled,
    overrides: t.overrides,
    reltuples,
    liveTuples: t.liveTuples === null ? null : Number(t.liveTuples),
    vacuum,
    insert,
    analyze,
    xidAge,
    freezeMaxAge: Number(t.freezeMaxAge),
    mxidAge,
    multixactFreezeMaxAge: Number(t.multixactFreezeMaxAge),
    lastVacuum: t.lastVacuum?.toISOString() ?? null,
    lastAutovacuum: t.lastAutovacuum?.toISOString() ?? null,
    lastAnalyze: t.lastAnalyze?.toISOString() ?? null,
    lastAutoanalyze: t.lastAutoanalyze?.toISOString() ?? null,
    vacuumCount: t.vacuumCount === null ? null : Number(t.vacuumCount),
    autovacuumCount: t.autovacuumCount === null ? null : Number(t.autovacuumCount),
    analyzeCount: t.analyzeCount === null ? null : Number(t.analyzeCount),
    autoanalyzeCount: t.autoanalyzeCount === null ? null : Number(t.autoanalyzeCount),
  };
}
