import { assertMatchesContract } from './support/contract';
import { API, createTestApp, TestApp, TestDatabase } from './support/harness';

/** The harness checks every response against openapi.json; this proves the check can fail. */
describe('responses are checked against openapi.json', () => {
  let db: TestDatabase;
  let api: TestApp;
  let overview: any;

  beforeAll(async () => {
    db = await TestDatabase.create({ extensions: [] });
    api = await createTestApp(db.monitorUrl);
    overview = (await api.get(API)).body;
  });
  afterAll(async () => {
    await api?.close();
    await db?.drop();
  });

  const check =
    (body: unknown, status = 200, type = 'application/json') =>
    () =>
      assertMatchesContract('GET', API, status, type, body);

  it('accepts a real response', () => {
    expect(check(overview)).not.toThrow();
  });

  it('rejects a field the document lacks', () => {
    expect(check({ ...overview, extra: 1 })).toThrow(/must NOT have additional properties/);
  });

  it('rejects a missing field, a wrong type and a null where none is allowed', () => {
    const { version: _v, ...missing } = overview;
    expect(check(missing)).toThrow(/must have required property 'version'/);
    expect(check({ ...overview, versionNum: '170000' })).toThrow(/must be integer/);
    expect(check({ ...overview, currentDatabase: null })).toThrow(/must be string/);
    expect(check({ ...overview, meta: { ...overview.meta, cached: 'no' } })).toThrow(/must be boolean/);
  });

  it('rejects an undocumented status and a wrong media type', () => {
    expect(check(overview, 418)).toThrow(/does not declare/);
    expect(check(overview, 200, 'text/plain')).toThrow(/openapi.json declares application\/json/);
  });
});
