import { API, createTestApp, Session, TestApp, TestDatabase, waitFor } from './support/harness';

// The secrets a running query and a tracked statement carry, and what QUERY_TEXT=redacted must leave of them.
const RUNNING =
  "select pg_sleep(60), 'alice@example.com' as email, E'tok\\'en-4242' as t, $q$ nested $x$ 'k3y' $x$ $q$ as d, " +
  '31337 as pin /* comment: card 4111111111111111 */';
const RUNNING_REDACTED = 'select pg_sleep(?), ? as email, ? as t, ? as d, ? as pin';
const SECRETS = ['alice', 'tok', '4242', 'k3y', '31337', '4111', 'comment'];

describe('QUERY_TEXT', () => {
  let db: TestDatabase;
  let sleeper: Session;
  let pending: Promise<unknown>;
  const apps: TestApp[] = [];
  const appWith = async (mode: string) => {
    const app = await createTestApp(db.monitorUrl, { QUERY_TEXT: mode });
    apps.push(app);
    return app;
  };
  const runningQuery = async (app: TestApp) => {
    const res = await app.get(`${API}/activity?application=query-text-sleeper`);
    expect(res.status).toBe(200);
    expect(res.body.sessions).toHaveLength(1);
    return res.body;
  };
  const statement = async (app: TestApp) => {
    const res = await app.get(`${API}/statements?database=${db.name}&limit=1000`);
    expect(res.status).toBe(200);
    const found = res.body.statements.filter((s: { calls: number; rows: number }) => s.calls === 3 && s.rows === 3);
    expect(found).toHaveLength(1);
    return { body: res.body, statement: found[0] };
  };

  beforeAll(async () => {
    db = await TestDatabase.create({ extensions: ['pg_stat_statements'] });
    sleeper = await db.session({ applicationName: 'query-text-sleeper' });
    // pg_stat_statements keeps comments in its normalised texts (the constant becomes $1).
    const runner = await db.session();
    for (let i = 0; i < 3; i++) {
      await runner.sql.unsafe('select /* customer 98765 alice@example.com */ 42 as answer');
    }
    pending = sleeper.sql
      .unsafe(RUNNING)
      .execute()
      .catch(() => undefined);
    await waitFor(async () => {
      const [row] = await db.admin`select 1 from pg_stat_activity where pid = ${sleeper.pid} and state = 'active'`;
      return row;
    });
  });

  afterAll(async () => {
    await db.admin`select pg_cancel_backend(${sleeper.pid})`;
    await pending;
    await Promise.all(apps.map((a) => a.close()));
    await db.drop();
  });

  it('full (the default) shows texts as PostgreSQL has them', async () => {
    const app = await createTestApp(db.monitorUrl);
    apps.push(app);
    const body = await runningQuery(app);
    expect(body.queryText).toBe('full');
    expect(body.sessions[0].query).toBe(RUNNING);
    const { statement: s } = await statement(app);
    expect(s.query).toBe('select /* customer 98765 alice@example.com */ $1 as answer');
  });

  it('redacted replaces every literal and drops comments, in activity and statements', async () => {
    const app = await appWith('redacted');
    const body = await runningQuery(app);
    expect(body.queryText).toBe('redacted');
    expect(body.sessions[0].query).toBe(RUNNING_REDACTED);
    for (const secret of SECRETS) expect(JSON.stringify(body)).not.toContain(secret);
    const { body: statements, statement: s } = await statement(app);
    expect(statements.queryText).toBe('redacted');
    expect(s.query).toBe('select $1 as answer');
    expect(JSON.stringify(statements)).not.toContain('98765');
  });

  it('none shows no text at all, and reads none', async () => {
    const app = await appWith('none');
    const body = await runningQuery(app);
    expect(body.queryText).toBe('none');
    expect(body.sessions[0]).toMatchObject({ query: null, queryTruncated: false });
    const { body: statements, statement: s } = await statement(app);
    expect(statements.queryText).toBe('none');
    expect(s.query).toBeNull();
    expect(statements.statements.every((x: { query: unknown }) => x.query === null)).toBe(true);
  });

  it.each(['redacted', 'none'])('%s refuses search, which would reveal what it hides', async (mode) => {
    const app = await appWith(mode);
    const res = await app.get(`${API}/statements?search=alice`);
    expect(res.status).toBe(400);
    expect(res.body.invalidParams).toEqual([
      { name: 'search', reason: `is disabled because QUERY_TEXT=${mode}: its matches would reveal the texts it hides` },
    ]);
  });

  it('a text cut at track_activity_query_size mid-literal leaks no fragment of it', async () => {
    // track_activity_query_size is 1024 here (the default): the literal starts before the cut and ends after it.
    const long = `select pg_sleep(60), '${'x'.repeat(990)}SECRETSECRET${'y'.repeat(100)}'`;
    const session = await db.session({ applicationName: 'query-text-truncated' });
    const running = session.sql
      .unsafe(long)
      .execute()
      .catch(() => undefined);
    try {
      const app = await appWith('redacted');
      const res = await waitFor(async () => {
        const r = await app.get(`${API}/activity?application=query-text-truncated`);
        return r.body.sessions?.[0]?.state === 'active' && r;
      });
      expect(res.body.sessions[0]).toMatchObject({ query: 'select pg_sleep(?), ?', queryTruncated: true });
    } finally {
      await db.admin`select pg_cancel_backend(${session.pid})`;
      await running;
    }
  });
});
