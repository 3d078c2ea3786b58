#!/usr/bin/env node
/**
 * Runs the e2e suite on each PostgreSQL major (13–18 by default, or those given as arguments), one after the
 * other, each against its own embedded server, then prints a table and a closing line of totals.
 *   npm run test:matrix            # 13 14 15 16 17 18
 *   npm run test:matrix -- 13 18   # oldest and newest
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const majors = process.argv.slice(2).length ? process.argv.slice(2).map(Number) : [13, 14, 15, 16, 17, 18];
const jest = require.resolve('jest/bin/jest');
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-matrix-'));
const rows = [];
for (const major of majors) {
  const out = path.join(outDir, `pg${major}.json`);
  const started = Date.now();
  process.stdout.write(`\n=== PostgreSQL ${major} ===\n`);
  const run = spawnSync(
    process.execPath,
    [jest, '--selectProjects', 'e2e', '--runInBand', '--json', `--outputFile=${out}`],
    {
      stdio: 'inherit',
      env: { ...process.env, PG_VERSION: String(major) },
    },
  );
  const result = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : undefined;
  rows.push({
    major,
    passed: result?.numPassedTests ?? 0,
    failed: result?.numFailedTests ?? (run.status === 0 ? 0 : 1),
    skipped: result?.numPendingTests ?? 0,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ok: run.status === 0,
  });
}
process.stdout.write('\n| PostgreSQL | passed | failed | skipped | seconds |\n|---|---|---|---|---|\n');
for (const r of rows)
  process.stdout.write(`| ${r.major} | ${r.passed} | ${r.failed} | ${r.skipped} | ${r.seconds} |\n`);
const passed = rows.reduce((n, r) => n + r.passed, 0);
const failed = rows.reduce((n, r) => n + r.failed, 0);
process.stdout.write(`\nmatrix: ${passed} passed, ${failed} failed\n`);
process.exit(rows.every((r) => r.ok) ? 0 : 1);
