import fc from 'fast-check';
import fs from 'node:fs';
import { createTestApp, TestApp, TestDatabase } from './support/harness';
import { OPENAPI_FILE } from '../src/openapi/files';
import { HistoryCollector } from '../src/history/collector.service';

/**
 * Property: whatever query string a client sends to any operation, the answer is a 200 or a 400 that names a
 * parameter (and, through the harness, matches openapi.json); never a 5xx; and the database is unchanged.
 * Parameter names and enum values come from openapi.json, so a new parameter is fuzzed without editing this file.
 */
interface Parameter {
  name: string;
  in: string;
  schema: { type?: string; enum?: string[]; items?: { enum?: string[] }; minimum?: number; maximum?: number };
}
const document = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as {
  paths: Record<string, { get: { parameters?: Parameter[] } }>;
};
const operations = Object.entries(document.paths).map(([route, item]) => ({
  route,
  // Path parameters take a valid value (below); the query string is what is fuzzed.
  parameters: (item.get.parameters ?? []).filter((p) => p.in === 'query'),
}));

/** A queryid the history store has (set before the properties run): the value of the {queryId} path parameter. */
let queryId = '0';

/** Valid values of the text parameters that are not names. */
const VALID_TEXT: Record<string, string[]> = {
  window: ['15m', '1h', '7d'],
  from: ['-1h', '-2d', new Date(Date.now() - 3_600_000).toISOString()],
  to: ['now', '-1m'],
  step: ['1h', '1d'],
};

const RUNS_PER_OPERATION = Number(process.env.FUZZ_RUNS ?? 300);

const hostile = fc.oneof(
  fc.constantFrom(
    "'; drop table fuzz_canary; --",
    "' or 1=1 --",
    '1; select pg_sleep(10)',
    '$$; delete from fuzz_canary; $$',
    '%',
    '_',
    '\\',
    '%00',
    '\u0000',
    '../../etc/passwd',
    '{"$ne":null}',
    'true',
    'TRUE',
    '1e309',
    'NaN',
    'Infinity',
    '-0',
    '0x10',
    '9'.repeat(400),
    '-9223372036854775809',
    '18446744073709551616',
    '1.5',
    ' 1',
    '',
    'null',
    'undefined',
    '[]',
    'pg_catalog',
    'information_schema',
    '"quoted"',
    'Ω≈ç√∫',
    '😀'.repeat(50),
    '\u202e\u200b',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  fc.double().map(String),
  fc.constant('x'.repeat(10_000)),
);

/** The test database's name, a valid value of `database` everywhere (set before the properties run). */
let databaseName = 'postgres';

const valueFor = (p: Parameter): fc.Arbitrary<string> => {
  if (p.name === 'target')
    return fc.oneof({ arbitrary: fc.constant('default'), weight: 3 }, { arbitrary: hostile, weight: 1 });
  if (p.name === 'database') {
    return fc.oneof({ arbitrary: fc.constant(databaseName), weight: 2 }, { arbitrary: hostile, weight: 1 });
  }
  const enums = p.schema.enum ?? p.schema.items?.enum;
  const valid = enums
    ? fc.constantFrom(...enums)
    : p.schema.type === 'integer'
      ? fc.integer({ min: p.schema.minimum ?? 0, max: Math.min(p.schema.maximum ?? 1000, 1_000_000) }).map(String)
      : p.schema.type === 'boolean'
        ? fc.constantFrom('true', 'false')
        : VALID_TEXT[p.name]
          ? fc.constantFrom(...VALID_TEXT[p.name])
          : fc.constantFrom('public', 'pg_catalog', 'fuzz_canary');
  return fc.oneof({ arbitrary: valid, weight: 2 }, { arbitrary: hostile, weight: 3 });
};

const encode = (s: string): string => encodeURIComponent(s);

/** A query string: known parameters (some repeated, some as name[]), unknown names, odd separators. */
const queryFor = (parameters: Parameter[]): fc.Arbitrary<string> => {
  const known = parameters.length
    ? fc
        .constantFrom(...parameters)
        .chain((p) =>
          fc.tuple(fc.constantFrom(p.name, `${p.name}[]`, `${p.name}[0]`, p.name.toUpperCase()), valueFor(p)),
        )
    : fc.tuple(fc.constant('x'), hostile);
  const unknown = fc.tuple(
    fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'toString')),
    hostile,
  );
  const pair = fc.oneof({ arbitrary: known, weight: 4 }, { arbitrary: unknown, weight: 1 });
  return fc
    .tuple(fc.array(pair, { maxLength: 6 }), fc.constantFrom('&', '&&', ';'))
    .map(([pairs, sep]) => pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join(sep));
};

describe('hostile query strings on every operation', () => {
  let db: TestDatabase;
  let store: TestDatabase;
  let api: TestApp;
  const fingerprint = async (): Promise<string> => {
    const rows = await db.admin`
      select (select string_agg(relname || ':' || relkind::text, ',' order by relname) from pg_class
              where relnamespace = 'public'::regnamespace) as relations,
             (select string_agg(rolname, ',' order by rolname) from pg_roles) as roles,
             (select string_agg(id || '=' || v, ',' order by id) from fuzz_canary) as canary,
             (select count(*) from pg_stat_activity where query ilike '%pg_sleep(10)%') as sleepers`;
    return JSON.stringify(rows);
  };
  let before = '';

  beforeAll(async () => {
    db = await TestDatabase.create({ extensions: ['pg_stat_statements', 'pgstattuple'] });
    await db.admin.unsafe(`
      create table fuzz_canary (id int primary key, v text not null);
      insert into fuzz_canary select g, md5(g::text) from generate_series(1, 100) g;
      create index fuzz_canary_v on fuzz_canary (v);
      analyze fuzz_canary;`);
    store = await TestDatabase.create({ extensions: [] });
    api = await createTestApp(db.monitorUrl, {
      RATE_LIMIT_PER_MINUTE: '0',
      HISTORY: 'on',
      HISTORY_DATABASE_URL: store.url,
    });
    databaseName = db.name;
    await api.app.get(HistoryCollector).now!.collectNow('default');
    queryId = (await store.admin<{ q: string }[]>`select queryid::text as q from statement_texts limit 1`)[0].q;
    before = await fingerprint();
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
    await store?.drop();
  });

  it.each(operations.map((o) => [o.route, o]))(
    '%s answers 200, a 400 naming a parameter or a 404 naming the target or database',
    async (_route, op) => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(queryFor(op.parameters), async (query) => {
          const res = await api.get(`${op.route.replace('{queryId}', queryId)}?${query}`);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 400) {
            expect(res.body.code).toBe('INVALID_PARAMETER');
            expect(res.body.invalidParams.length).toBeGreaterThan(0);
            expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.(js|ts):\d+|select .* from /i);
          } else if (res.status === 404) {
            // A well-formed name of a target or database that does not exist (or a statement none of whose entries
            // match the filters): named in the detail.
            expect(['TARGET_NOT_FOUND', 'DATABASE_NOT_FOUND', 'STATEMENT_NOT_FOUND']).toContain(res.body.code);
            expect(res.body.detail).toMatch(
              /^(No target is named "|Target "default" has no database "|The history of target "default" has no statement)/,
            );
          } else {
            expect(res.status).toBe(200);
          }
        }),
        { numRuns: RUNS_PER_OPERATION },
      );
      if (process.env.FUZZ_REPORT) console.log(op.route, Object.fromEntries(statuses));
      // Both outcomes were exercised: a generator that only produced 400s would prove little.
      expect(statuses.get(400)).toBeGreaterThan(0);
      if (op.parameters.length > 0) expect(statuses.get(200)).toBeGreaterThan(0);
    },
  );

  it.each([
    ['/api/db/monitoring/postgres/cache', 'table'],
    ['/api/db/monitoring/postgres/activity', 'application'],
    ['/api/db/monitoring/postgres/statements', 'search'],
  ])('%s: a NUL character in %s is a 400 naming it (found by this property: it was a 500)', async (route, name) => {
    const res = await api.get(`${route}?${name}=a%00b`);
    expect(res.status).toBe(400);
    expect(res.body.invalidParams).toEqual([{ name, reason: 'must not contain a NUL character' }]);
  });

  it('left the database as it was', async () => {
    expect(await fingerprint()).toBe(before);
  });
});
