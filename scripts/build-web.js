#!/usr/bin/env node
/**
 * Builds the dashboard (web/) into dist/web with esbuild: one script and one stylesheet (uPlot's included), the
 * page and its icon. Every asset is a file pgscope serves itself: no CDN, no inline script (the CSP forbids both).
 * Fails when the page's JavaScript exceeds its budget (250 KB gzipped).
 */
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.join(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'web');
const BUDGET_GZIP_BYTES = 250 * 1024;

async function main() {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  await esbuild.build({
    entryPoints: { app: path.join(ROOT, 'web', 'src', 'main.ts') },
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    outdir: OUT,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'favicon.svg']) fs.copyFileSync(path.join(ROOT, 'web', file), path.join(OUT, file));
  const js = fs.readFileSync(path.join(OUT, 'app.js'));
  const gz = zlib.gzipSync(js, { level: 9 }).length;
  if (gz > BUDGET_GZIP_BYTES) {
    process.stderr.write(`dashboard JavaScript is ${gz} bytes gzipped: over its ${BUDGET_GZIP_BYTES} budget\n`);
    process.exit(1);
  }
  if (process.env.BUILD_WEB_VERBOSE) process.stdout.write(`dist/web/app.js: ${js.length} bytes, ${gz} gzipped\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
