import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { renderOpenApi } from '../src/openapi/render';
import { createTestApp } from './support/harness';
import { OPENAPI_DIR, OPENAPI_FILE } from '../src/openapi/files';

describe('openapi.json', () => {
  it('is what the code generates (run `npm run openapi` and commit the result)', async () => {
    const checkedIn = fs.readFileSync(OPENAPI_FILE, 'utf8');
    expect(await renderOpenApi()).toBe(checkedIn);
  });

  it('is served at /docs-json as the same document', async () => {
    const api = await createTestApp('postgres://x@127.0.0.1:1/none');
    try {
      const res = await api.get('/docs-json');
      expect(res.status).toBe(200);
      const checkedIn = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8'));
      expect(res.body).toEqual(checkedIn);
    } finally {
      await api.close();
    }
  });
});

describe('openapi.json quality', () => {
  const doc = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as {
    paths: Record<
      string,
      Record<string, { operationId?: string; tags?: string[]; parameters?: any[]; responses: any }>
    >;
    components: { schemas: Record<string, { properties?: Record<string, any> }> };
  };
  const operations = Object.entries(doc.paths).flatMap(([route, item]) =>
    Object.entries(item).map(([method, op]) => ({ route, method, op })),
  );

  it('names every operation as an SDK method and tags it with its family', () => {
    expect(operations.map(({ op }) => [op.operationId, op.tags])).toEqual([
      ['listInstances', ['targets']],
      ['getServerOverview', ['overview']],
      ['getActivity', ['activity']],
      ['listLockChains', ['load']],
      ['getCache', ['cache']],
      ['listChecks', ['checks']],
      ['listCheckEvents', ['checks']],
      ['getHistoryStatus', ['history']],
      ['getDatabaseHistory', ['history']],
      ['getSizesHistory', ['history']],
      ['getStatementHistory', ['history']],
      ['listIndexes', ['indexes']],
      ['getIo', ['replication']],
      ['getLoad', ['load']],
      ['getLoadTop', ['load']],
      ['getReplication', ['replication']],
      ['listStatements', ['statements']],
      ['getVacuum', ['maintenance']],
      ['listTargets', ['targets']],
      ['getLiveness', ['health']],
      ['getReadiness', ['health']],
    ]);
  });

  it('describes every parameter and field and gives each an example', () => {
    const missing: string[] = [];
    for (const { route, op } of operations) {
      for (const p of op.parameters ?? []) {
        if (!p.description) missing.push(`${route} ${p.name}: description`);
        // toplevel: any value is a 400 on PostgreSQL 13, and Swagger UI pre-fills parameters with their examples.
        const noExample =
          (route.endsWith('/statements') && p.name === 'toplevel') ||
          // Each instance's own names: a pre-filled example would point Swagger UI at a target it may not have.
          p.name === 'target' ||
          (p.name === 'database' && /\/(indexes|cache|vacuum|history\/database|history\/sizes)$/.test(route)) ||
          // A pre-filled window with from/to is a 400, and either needs the history store.
          ['window', 'from', 'to'].includes(p.name);
        if (!noExample && p.example === undefined && p.schema?.example === undefined) {
          missing.push(`${route} ${p.name}: example`);
        }
      }
    }
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      for (const [property, s] of Object.entries(schema.properties ?? {})) {
        if (!s.description) missing.push(`${name}.${property}: description`);
        // A field that is another schema is exemplified by that schema's own fields.
        const nested = s.$ref || s.allOf || s.anyOf?.some((x: any) => x.$ref) || s.items?.$ref;
        if (!nested && s.example === undefined) missing.push(`${name}.${property}: example`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('lists the error responses of every /api operation, and a recorded example for every 200', () => {
    for (const { route, op } of operations) {
      expect([route, op.responses['200'].content['application/json'].example]).toEqual([route, expect.any(Object)]);
      if (route.startsWith('/api/db/monitoring/postgres')) {
        // Operations that read the history store can answer 409 HISTORY_DISABLED; the overview and activity cannot.
        const windowed = !/\/postgres(\/activity|\/vacuum|\/replication|\/io|\/checks)?$/.test(route);
        expect([route, Object.keys(op.responses).sort()]).toEqual([
          route,
          ['200', '304', '400', '401', '403', '404', ...(windowed ? ['409'] : []), '429', '500', '503', '504'],
        ]);
      } else if (route === '/api/db/monitoring/instances') {
        // Read from the history store: 409 without one, 503 when it does not answer.
        expect([route, Object.keys(op.responses).sort()]).toEqual([
          route,
          ['200', '400', '401', '409', '429', '500', '503'],
        ]);
      } else if (route.startsWith('/api/')) {
        // Answered from memory: no server is asked, so none of its errors.
        expect([route, Object.keys(op.responses).sort()]).toEqual([route, ['200', '400', '401', '429', '500']]);
      }
    }
  });

  it('documents the cache validators of every /api operation: ETag and Cache-Control, If-None-Match, 304', () => {
    for (const { route, op } of operations.filter((o) => o.route.startsWith('/api/db/monitoring/postgres'))) {
      for (const status of ['200', '304']) {
        expect([route, status, Object.keys(op.responses[status].headers ?? {})]).toEqual([
          route,
          status,
          ['ETag', 'Cache-Control'],
        ]);
      }
      expect([route, op.parameters?.find((p) => p.in === 'header')?.name]).toEqual([route, 'If-None-Match']);
    }
  });

  it('is OpenAPI 3.1 and says null the JSON Schema way (no nullable beside a $ref a strict validator ignores)', () => {
    const text = JSON.stringify(doc);
    expect((doc as { openapi?: string }).openapi).toBe('3.1.0');
    expect(text).not.toContain('"nullable"');
    const bloat = doc.components.schemas.IndexDto.properties?.bloat;
    expect(bloat.anyOf).toEqual([{ $ref: '#/components/schemas/BloatDto' }, { type: 'null' }]);
  });

  it('says when the bearer token is enforced', () => {
    const scheme = (doc as any).components.securitySchemes.bearer;
    expect(scheme.description).toContain('Enforced only when the server is configured with tokens');
  });

  it('passes the OpenAPI linter (Redocly, recommended-strict plus redocly.yaml) with no problem', () => {
    const root = path.join(__dirname, '..');
    const result = spawnSync(
      process.execPath,
      [
        require.resolve('@redocly/cli/bin/cli.js'),
        'lint',
        OPENAPI_FILE,
        '--config',
        path.join(OPENAPI_DIR, 'redocly.yaml'),
      ],
      {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    );
    const output = `${result.stdout}${result.stderr}`;
    expect([result.status, output]).toEqual([0, expect.stringContaining('Your API description is valid')]);
    expect(output).not.toMatch(/\d+ warnings?\b/); // (Node 20 end-of-life banner aside)
  });
});
