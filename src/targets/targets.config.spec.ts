import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadEnv } from '../config/env';
import { maskCredentials } from '../common/pg-errors';
import { loadTargets } from './targets.config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-targets-'));
let n = 0;
/** A TARGETS_FILE with this text, and the env that names it. */
const file = (text: string, extra: Record<string, string> = {}) => {
  const p = path.join(dir, `t${n++}.yaml`);
  fs.writeFileSync(p, text);
  return loadEnv({ TARGETS_FILE: p, ...extra });
};
const error = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('no error');
};

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('loadTargets', () => {
  it('reads DATABASE_URL as the one target "default", with the instance defaults', () => {
    expect(loadTargets(loadEnv({ DATABASE_URL: 'postgres://u:p@db:5432/app', POOL_MAX: '3' }))).toEqual([
      {
        name: 'default',
        url: 'postgres://u:p@db:5432/app',
        database: 'app',
        databases: { kind: 'url' },
        labels: {},
        poolMax: 3,
        queryTimeoutMs: 5000,
        cpuCount: null,
      },
    ]);
  });

  it('reads every field of a YAML file, and JSON as YAML', () => {
    const yaml = file(`
targets:
  - name: prod-1
    url: postgres://mon@db1:5432/app
    databases: all
    labels: { env: prod, team: payments, tier: 1 }
    poolMax: 2
    queryTimeoutMs: 2500
    cpuCount: 16
  - name: reporting
    url: postgresql://mon:pw@db2/reports
    databases: [reports, archive, reports]
`);
    expect(loadTargets(yaml)).toEqual([
      {
        name: 'prod-1',
        url: 'postgres://mon@db1:5432/app',
        database: 'app',
        databases: { kind: 'all' },
        labels: { env: 'prod', team: 'payments', tier: '1' },
        poolMax: 2,
        queryTimeoutMs: 2500,
        cpuCount: 16,
      },
      expect.objectContaining({
        name: 'reporting',
        database: 'reports',
        databases: { kind: 'list', names: ['reports', 'archive'] },
      }),
    ]);
    const json = file(JSON.stringify({ targets: [{ name: 'j', url: 'postgres://x@h/d' }] }));
    expect(loadTargets(json).map((t) => t.name)).toEqual(['j']);
  });

  it('takes the password from passwordEnv or passwordFile, never with one in the URL', () => {
    process.env.PGSCOPE_SPEC_PW = 's3cr:t@!';
    const pwFile = path.join(dir, 'pw');
    fs.writeFileSync(pwFile, 'from-file\n');
    const [fromEnv, fromFile] = loadTargets(
      file(`
targets:
  - { name: a, url: "postgres://mon@db/app", passwordEnv: PGSCOPE_SPEC_PW }
  - { name: b, url: "postgres://mon@db/app", passwordFile: ${pwFile} }
`),
    );
    expect(decodeURIComponent(new URL(fromEnv.url).password)).toBe('s3cr:t@!');
    expect(new URL(fromFile.url).password).toBe('from-file');
    expect(
      error(() =>
        loadTargets(file('targets: [{ name: a, url: "postgres://mon:x@db/app", passwordEnv: PGSCOPE_SPEC_PW }]')),
      ),
    ).toBe(
      'Invalid configuration: TARGETS_FILE must be a URL without a password when passwordEnv or passwordFile gives it (target "a": url)',
    );
    expect(
      error(() => loadTargets(file('targets: [{ name: a, url: "postgres://m@db/app", passwordEnv: NOPE_UNSET }]'))),
    ).toBe(
      'Invalid configuration: TARGETS_FILE must be an environment variable that is set (NOPE_UNSET is not) (target "a": passwordEnv)',
    );
  });

  it.each([
    ['targets: []', 'a YAML document of the form "targets: [{ name, url, … }]" with one target or more'],
    [
      'targets: [{ url: "postgres://h/d" }]',
      'a name of 1 to 64 letters, digits, _ . - (starting with a letter or digit) (target #1: name)',
    ],
    [
      'targets: [{ name: "a b", url: "postgres://h/d" }]',
      'a name of 1 to 64 letters, digits, _ . - (starting with a letter or digit) (target #1: name)',
    ],
    [
      'targets: [{ name: a, url: "mysql://h/d" }]',
      'a postgres:// or postgresql:// connection URL with a host (target "a": url)',
    ],
    [
      'targets: [{ name: a, url: "postgres://h/d", databases: some }]',
      '"all" or a list of database names (target "a": databases)',
    ],
    ['targets: [{ name: a, url: "postgres://h/d", poolMax: 0 }]', 'an integer from 1 to 50 (target "a": poolMax)'],
    [
      'targets: [{ name: a, url: "postgres://h/d", labels: { "bad-name": x } }]',
      'label names of letters, digits and _ ("bad-name" is not) (target "a": labels)',
    ],
    [
      'targets: [{ name: a, url: "postgres://h/d", pool: 3 }]',
      'one of the fields name, url, databases, labels, poolMax, queryTimeoutMs, cpuCount, passwordEnv, passwordFile (target "a": pool)',
    ],
    [
      'targets: [{ name: a, url: "postgres://h/d" }, { name: a, url: "postgres://h/e" }]',
      'unique target names ("a" appears twice)',
    ],
    ['targets: [ { name: a', 'valid YAML'],
  ])('refuses %s in one line naming the target and the field', (text, expects) => {
    const message = error(() => loadTargets(file(text)));
    expect(message).toContain(`Invalid configuration: TARGETS_FILE must be ${expects}`);
    expect(message).not.toContain('\n');
  });

  it('refuses more than MAX_TARGETS, and TARGETS_FILE with DATABASE_URL', () => {
    const three =
      'targets: [{ name: a, url: "postgres://h/d" }, { name: b, url: "postgres://h/d" }, { name: c, url: "postgres://h/d" }]';
    expect(error(() => loadTargets(file(three, { MAX_TARGETS: '2' })))).toBe(
      'Invalid configuration: TARGETS_FILE must be at most MAX_TARGETS (2) targets; it has 3',
    );
    expect(error(() => loadTargets(file(three, { DATABASE_URL: 'postgres://h/d' })))).toContain(
      'TARGETS_FILE must be set without DATABASE_URL',
    );
  });
});

describe('maskCredentials', () => {
  it('hides the password of every URL in a text, and only it', () => {
    expect(maskCredentials('at postgres://mon:s3cret@db:5432/app and postgresql://a:b@h/d')).toBe(
      'at postgres://mon:***@db:5432/app and postgresql://a:***@h/d',
    );
    expect(maskCredentials('postgresql://mon@db/app')).toBe('postgresql://mon@db/app');
  });
});
