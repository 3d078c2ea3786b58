import fs from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, Env } from '../config/env';

/** Which databases of a server pgscope watches: all it may connect to, a list, or only the URL's. */
export type DatabasesSetting = { kind: 'all' } | { kind: 'list'; names: string[] } | { kind: 'url' };

/** One watched server, as configured (TARGETS_FILE, or DATABASE_URL as the target "default"). */
export interface TargetConfig {
  name: string;
  /** postgres:// URL with the password filled in (from passwordEnv / passwordFile where the URL has none). */
  url: string;
  /** The URL's database: the one server-wide families read from, and the default of `database`. */
  database: string;
  databases: DatabasesSetting;
  labels: Record<string, string>;
  poolMax: number;
  queryTimeoutMs: number;
  /** The server's CPUs, where the file gives them: the line a load chart must stay under. */
  cpuCount: number | null;
}

export const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;
const DATABASE_NAME = /^[^\p{Cc}]{1,63}$/u;
const FIELDS = [
  'name',
  'url',
  'databases',
  'labels',
  'poolMax',
  'queryTimeoutMs',
  'cpuCount',
  'passwordEnv',
  'passwordFile',
];

/**
 * The targets of this instance: TARGETS_FILE (YAML, or JSON, which is YAML), or DATABASE_URL as one target named
 * "default". Throws a ConfigError naming the target and the field; reads password files, never logs a password.
 */
export function loadTargets(env: Env): TargetConfig[] {
  if (env.TARGETS_FILE !== undefined && env.DATABASE_URL !== undefined) {
    throw new ConfigError('TARGETS_FILE', 'set without DATABASE_URL (one or the other names the servers to watch)');
  }
  if (env.TARGETS_FILE === undefined) {
    if (env.DATABASE_URL === undefined) return [];
    return [parseTarget({ name: 'default', url: env.DATABASE_URL }, 0, env, 'DATABASE_URL')];
  }
  let text: string;
  try {
    text = fs.readFileSync(env.TARGETS_FILE, 'utf8');
  } catch {
    throw new ConfigError('TARGETS_FILE', 'the path of a readable YAML file');
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (err) {
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new ConfigError('TARGETS_FILE', `valid YAML (${line ? `line ${line}: ` : ''}${firstLine(err)})`);
  }
  const targets = (document as { targets?: unknown } | null)?.targets;
  if (!Array.isArray(targets) || targets.length === 0) {
    throw new ConfigError(
      'TARGETS_FILE',
      'a YAML document of the form "targets: [{ name, url, … }]" with one target or more',
    );
  }
  if (targets.length > env.MAX_TARGETS) {
    throw new ConfigError('TARGETS_FILE', `at most MAX_TARGETS (${env.MAX_TARGETS}) targets; it has ${targets.length}`);
  }
  const parsed = targets.map((t, i) => parseTarget(t, i, env, 'TARGETS_FILE'));
  const seen = new Set<string>();
  for (const t of parsed) {
    if (seen.has(t.name)) throw new ConfigError('TARGETS_FILE', `unique target names ("${t.name}" appears twice)`);
    seen.add(t.name);
  }
  return parsed;
}

/** A target of one URL (the embedded demo's), with the instance's defaults. */
export function targetFromUrl(name: string, url: string, env: Env, extra: Record<string, unknown> = {}): TargetConfig {
  return parseTarget({ name, url, ...extra }, 0, env, 'DATABASE_URL');
}

function parseTarget(raw: unknown, index: number, env: Env, variable: string): TargetConfig {
  const where = (field: string, name?: string) =>
    `${variable === 'DATABASE_URL' ? '' : `target ${name ? `"${name}"` : `#${index + 1}`}: `}${field}`;
  const fail = (field: string, expects: string, name?: string): never => {
    throw new ConfigError(variable, `${expects} (${where(field, name)})`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return fail('target', 'a map of target fields');
  const t = raw as Record<string, unknown>;
  const unknown = Object.keys(t).find((k) => !FIELDS.includes(k));
  if (unknown) fail(unknown, `one of the fields ${FIELDS.join(', ')}`, typeof t.name === 'string' ? t.name : undefined);
  if (typeof t.name !== 'string' || !TARGET_NAME.test(t.name)) {
    fail('name', 'a name of 1 to 64 letters, digits, _ . - (starting with a letter or digit)');
  }
  const name = t.name as string;
  if (typeof t.url !== 'string') return fail('url', 'a postgres:// or postgresql:// connection URL', name);
  let url: URL;
  try {
    url = new URL(t.url);
  } catch {
    return fail('url', 'a postgres:// or postgresql:// connection URL', name);
  }
  if (!/^postgres(ql)?:$/.test(url.protocol) || !url.hostname) {
    fail('url', 'a postgres:// or postgresql:// connection URL with a host', name);
  }
  const password = passwordOf(t, name, fail);
  if (password !== undefined) {
    if (url.password) fail('url', 'a URL without a password when passwordEnv or passwordFile gives it', name);
    url.password = encodeURIComponent(password);
  }
  const database =
    decodeURIComponent(url.pathname.replace(/^\//, '')) || decodeURIComponent(url.username) || 'postgres';
  return {
    name,
    url: url.toString(),
    database,
    databases: databasesOf(t.databases, name, fail),
    labels: labelsOf(t.labels, name, fail),
    poolMax: intOf(t.poolMax, env.POOL_MAX, 1, 50, 'poolMax', name, fail),
    queryTimeoutMs: intOf(t.queryTimeoutMs, env.QUERY_TIMEOUT_MS, 100, 600_000, 'queryTimeoutMs', name, fail),
    cpuCount: t.cpuCount === undefined ? null : intOf(t.cpuCount, 0, 1, 4096, 'cpuCount', name, fail),
  };
}

type Fail = (field: string, expects: string, name?: string) => never;

function passwordOf(t: Record<string, unknown>, name: string, fail: Fail): string | undefined {
  if (t.passwordEnv !== undefined && t.passwordFile !== undefined) {
    fail('passwordEnv', 'set without passwordFile (one or the other gives the password)', name);
  }
  if (t.passwordEnv !== undefined) {
    if (typeof t.passwordEnv !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(t.passwordEnv)) {
      fail('passwordEnv', 'the name of an environment variable', name);
    }
    const value = process.env[t.passwordEnv as string];
    if (value === undefined || value === '')
      fail('passwordEnv', `an environment variable that is set (${t.passwordEnv} is not)`, name);
    return value;
  }
  if (t.passwordFile !== undefined) {
    if (typeof t.passwordFile !== 'string') return fail('passwordFile', 'the path of a readable file', name);
    try {
      return fs.readFileSync(t.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch {
      return fail('passwordFile', 'the path of a readable file', name);
    }
  }
  return undefined;
}

function databasesOf(value: unknown, name: string, fail: Fail): DatabasesSetting {
  if (value === undefined || value === null) return { kind: 'url' };
  if (value === 'all') return { kind: 'all' };
  if (Array.isArray(value) && value.length > 0 && value.every((d) => typeof d === 'string' && DATABASE_NAME.test(d))) {
    return { kind: 'list', names: [...new Set(value as string[])] };
  }
  return fail('databases', '"all" or a list of database names', name);
}

function labelsOf(value: unknown, name: string, fail: Fail): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return fail('labels', 'a map of label names to values', name);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!LABEL_NAME.test(k)) fail('labels', `label names of letters, digits and _ ("${k}" is not)`, name);
    if (!['string', 'number', 'boolean'].includes(typeof v)) fail('labels', `a text value for label "${k}"`, name);
    labels[k] = String(v);
  }
  return labels;
}

function intOf(
  value: unknown,
  fallback: number,
  min: number,
  max: number,
  field: string,
  name: string,
  fail: Fail,
): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return fail(field, `an integer from ${min} to ${max}`, name);
  }
  return value;
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0];
}
