import fs from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, Env } from '../config/env';
import { spanMs } from '../history/window';

/** How a value compares with its thresholds: above (more is worse) or below (less is worse). */
export type Direction = 'above' | 'below';

export interface CheckDefinition {
  id: string;
  unit: string;
  direction: Direction;
  warning: number | null;
  critical: number | null;
  /** Per database (one entry per database of the target) or per server. */
  perDatabase: boolean;
  title: string;
}

/** Every check, its unit and default thresholds (Crunchy pgMonitor's where it publishes them). */
export const CHECKS: CheckDefinition[] = [
  {
    id: 'xid_wraparound',
    unit: '%',
    direction: 'above',
    warning: 50,
    critical: 75,
    perDatabase: true,
    title: 'Transaction ID age, % of the hard limit',
  },
  {
    id: 'mxid_wraparound',
    unit: '%',
    direction: 'above',
    warning: 50,
    critical: 75,
    perDatabase: true,
    title: 'Multixact age, % of the hard limit',
  },
  {
    id: 'xmin_horizon',
    unit: 'transactions',
    direction: 'above',
    warning: 50_000_000,
    critical: 150_000_000,
    perDatabase: false,
    title: 'Age of the oldest xmin held',
  },
  {
    id: 'idle_in_transaction',
    unit: 's',
    direction: 'above',
    warning: 300,
    critical: 900,
    perDatabase: false,
    title: 'Longest session idle in a transaction',
  },
  {
    id: 'long_query',
    unit: 's',
    direction: 'above',
    warning: 3600,
    critical: 43_200,
    perDatabase: false,
    title: 'Longest running query',
  },
  {
    id: 'connections',
    unit: '%',
    direction: 'above',
    warning: 75,
    critical: 90,
    perDatabase: false,
    title: 'Client connections, % of usable slots',
  },
  {
    id: 'replication_lag_bytes',
    unit: 'bytes',
    direction: 'above',
    warning: 50 * 1024 * 1024,
    critical: 100 * 1024 * 1024,
    perDatabase: false,
    title: 'Largest standby byte lag',
  },
  {
    id: 'replication_lag_time',
    unit: 's',
    direction: 'above',
    warning: 300,
    critical: 900,
    perDatabase: false,
    title: 'Largest replay lag time',
  },
  {
    id: 'slot_retained_wal',
    unit: 'bytes',
    direction: 'above',
    warning: 1024 ** 3,
    critical: 10 * 1024 ** 3,
    perDatabase: false,
    title: 'WAL retained by an inactive slot',
  },
  {
    id: 'archiver_failing',
    unit: 'boolean',
    direction: 'above',
    warning: null,
    critical: 1,
    perDatabase: false,
    title: 'WAL archiving failing',
  },
  {
    id: 'sequence_exhaustion',
    unit: '%',
    direction: 'above',
    warning: 75,
    critical: 90,
    perDatabase: true,
    title: 'Sequence nearest its end, % used',
  },
  {
    id: 'statements_capacity',
    unit: '%',
    direction: 'above',
    warning: 80,
    critical: 95,
    perDatabase: false,
    title: 'pg_stat_statements entries, % of pg_stat_statements.max',
  },
  {
    id: 'invalid_indexes',
    unit: 'indexes',
    direction: 'above',
    warning: 1,
    critical: null,
    perDatabase: true,
    title: 'Invalid indexes',
  },
  {
    id: 'autovacuum_overdue',
    unit: 'ratio',
    direction: 'above',
    warning: 2,
    critical: 10,
    perDatabase: true,
    title: 'Most overdue table: its largest figure over its autovacuum threshold',
  },
  {
    id: 'pending_restart',
    unit: 'settings',
    direction: 'above',
    warning: 1,
    critical: null,
    perDatabase: false,
    title: 'Settings changed that wait for a restart',
  },
  {
    id: 'checksum_failures',
    unit: 'failures',
    direction: 'above',
    warning: null,
    critical: 1,
    perDatabase: true,
    title: 'Data checksum failures',
  },
  {
    id: 'stats_age',
    unit: 'h',
    direction: 'below',
    warning: 168,
    critical: null,
    perDatabase: true,
    title: 'Age of the statistics (too young to judge unused indexes)',
  },
  {
    id: 'cache_hit_ratio',
    unit: '%',
    direction: 'below',
    warning: 95,
    critical: 90,
    perDatabase: true,
    title: 'Cache hit ratio over the last hour (history)',
  },
];

export interface CheckSetting {
  warning: number | null;
  critical: number | null;
  enabled: boolean;
}

export interface ChecksConfig {
  intervalMs: number;
  for: number;
  checks: Record<string, CheckSetting>;
  targets: Record<string, Record<string, CheckSetting>>;
}

const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A threshold: a number, a size (50MB), a duration (300s, 15m) for checks in seconds or hours, or null. */
function thresholdOf(value: unknown, unit: string, where: string): number | null {
  if (value === null) return null;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const size = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)$/i.exec(value.trim());
    if (size && unit === 'bytes') return Number(size[1]) * SIZE_UNITS[size[2].toUpperCase()];
    const ms = spanMs(value.trim());
    if (ms !== undefined && unit === 's') return ms / 1000;
    if (ms !== undefined && unit === 'h') return ms / 3_600_000;
  }
  throw new ConfigError(
    'CHECKS_FILE',
    `a number${unit === 'bytes' ? ', a size such as 50MB' : unit === 's' || unit === 'h' ? ', a duration such as 300s or 15m' : ''} or null (${where})`,
  );
}

function settingsOf(raw: unknown, base: Record<string, CheckSetting>, where: string): Record<string, CheckSetting> {
  if (raw === undefined || raw === null) return base;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError('CHECKS_FILE', `a map of check ids (${where})`);
  const out = { ...base };
  for (const [id, value] of Object.entries(raw as Record<string, unknown>)) {
    const def = CHECKS.find((c) => c.id === id);
    if (!def)
      throw new ConfigError(
        'CHECKS_FILE',
        `one of the check ids ${CHECKS.map((c) => c.id).join(', ')} (${where}: ${id})`,
      );
    if (typeof value !== 'object' || value === null)
      throw new ConfigError('CHECKS_FILE', `{ warning, critical, enabled } (${where}.${id})`);
    const v = value as Record<string, unknown>;
    for (const key of Object.keys(v)) {
      if (!['warning', 'critical', 'enabled'].includes(key))
        throw new ConfigError('CHECKS_FILE', `warning, critical or enabled (${where}.${id}: ${key})`);
    }
    if (v.enabled !== undefined && typeof v.enabled !== 'boolean')
      throw new ConfigError('CHECKS_FILE', `true or false (${where}.${id}.enabled)`);
    out[id] = {
      warning: 'warning' in v ? thresholdOf(v.warning, def.unit, `${where}.${id}.warning`) : out[id].warning,
      critical: 'critical' in v ? thresholdOf(v.critical, def.unit, `${where}.${id}.critical`) : out[id].critical,
      enabled: (v.enabled as boolean | undefined) ?? out[id].enabled,
    };
  }
  return out;
}

/**
 * The checks' settings: the defaults, overridden by CHECKS_FILE (YAML: { interval, for, checks: { <id>: { warning,
 * critical, enabled } }, targets: { <name>: { checks: {...} } } }), validated at start with a message naming the key.
 */
export function loadChecksConfig(env: Env): ChecksConfig {
  const defaults = Object.fromEntries(
    CHECKS.map((c) => [c.id, { warning: c.warning, critical: c.critical, enabled: true }]),
  );
  if (!env.CHECKS_FILE) return { intervalMs: 60_000, for: 2, checks: defaults, targets: {} };
  let raw: unknown;
  try {
    raw = parse(fs.readFileSync(env.CHECKS_FILE, 'utf8'));
  } catch (err) {
    throw new ConfigError('CHECKS_FILE', `a readable YAML file (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('CHECKS_FILE', 'a YAML map');
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!['interval', 'for', 'checks', 'targets'].includes(key))
      throw new ConfigError('CHECKS_FILE', `interval, for, checks or targets (${key})`);
  }
  const intervalMs = r.interval === undefined ? 60_000 : spanMs(String(r.interval));
  if (intervalMs === undefined || intervalMs < 1000)
    throw new ConfigError('CHECKS_FILE', 'an interval of at least 1s, such as 60s (interval)');
  const damping = r.for === undefined ? 2 : r.for;
  if (typeof damping !== 'number' || !Number.isInteger(damping) || damping < 1 || damping > 100) {
    throw new ConfigError('CHECKS_FILE', 'an integer number of evaluations from 1 to 100 (for)');
  }
  const checks = settingsOf(r.checks, defaults, 'checks');
  const targets: Record<string, Record<string, CheckSetting>> = {};
  if (r.targets !== undefined) {
    if (typeof r.targets !== 'object' || r.targets === null)
      throw new ConfigError('CHECKS_FILE', 'a map of target names (targets)');
    for (const [name, t] of Object.entries(r.targets as Record<string, unknown>)) {
      const tc = (t ?? {}) as Record<string, unknown>;
      targets[name] = settingsOf(tc.checks, checks, `targets.${name}.checks`);
    }
  }
  return { intervalMs, for: damping, checks, targets };
}
