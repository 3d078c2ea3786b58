import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

describe('bench/bench.js (smoke: a tiny catalogue, so the benchmark does not rot)', () => {
  it('runs every stage and writes its results', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-bench-'));
    const major = process.env.PG_VERSION ?? '17';
    const run = spawnSync(
      process.execPath,
      [
        path.join(__dirname, '..', 'bench', 'bench.js'),
        '--tables',
        '10',
        '--statements',
        '40',
        '--sessions',
        '6',
        '--duration',
        '1',
        '--requests',
        '3',
        '--pg',
        major,
        '--out',
        out,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(out, `bench-10-pg${major}.json`), 'utf8'));
    expect(result.results.map((r: any) => r.endpoint)).toEqual([
      'overview',
      'activity',
      'statements',
      'indexes',
      'cache',
    ]);
    for (const r of result.results) {
      expect(r.non2xx).toBe(0);
      expect(r.collections).toBeGreaterThanOrEqual(1);
      expect(r.collections).toBeLessThanOrEqual(r.cachedRequests);
    }
    expect(result.meta.peakRssMb).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, `bench-10-pg${major}.md`), 'utf8')).toContain('| endpoint |');
  }, 150_000);
});
