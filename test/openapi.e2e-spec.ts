import fs from 'node:fs';
import path from 'node:path';
import { renderOpenApi } from '../src/openapi';
import { createTestApp } from './support/harness';

describe('openapi.json', () => {
  it('is what the code generates (run `npm run openapi` and commit the result)', async () => {
    const checkedIn = fs.readFileSync(path.join(__dirname, '..', 'openapi.json'), 'utf8');
    expect(await renderOpenApi()).toBe(checkedIn);
  });

  it('is served at /docs-json as the same document', async () => {
    const api = await createTestApp('postgres://x@127.0.0.1:1/none');
    try {
      const res = await api.get('/docs-json');
      expect(res.status).toBe(200);
      const checkedIn = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'openapi.json'), 'utf8'));
      expect(res.body).toEqual(checkedIn);
    } finally {
      await api.close();
    }
  });
});
