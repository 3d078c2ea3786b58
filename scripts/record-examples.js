#!/usr/bin/env node
/**
 * Records one real answer of each operation from the embedded demo (PostgreSQL 18, `npm start`'s workload) into
 * openapi/examples.json. The OpenAPI document shows them as response examples and takes each field's example
 * from them, so every example is a value PostgreSQL really produced. Run after a change to a response:
 *   npm run openapi:examples && npm run openapi
 */
require('reflect-metadata');
const fs = require('node:fs');
const path = require('node:path');
const { Logger } = require('@nestjs/common');
const { DemoServer } = require('../dist/embedded/demo');
const { createApp } = require('../dist/app.setup');
const { loadEnv } = require('../dist/config/env');
const { TargetRegistry } = require('../dist/targets/registry');
const { targetFromUrl } = require('../dist/targets/targets.config');
const { HistoryCollector } = require('../dist/history/collector.service');
const { Leases } = require('../dist/history/leases');
const { LoadSampler } = require('../dist/load/load.sampler');
const os = require('node:os');

const API = '/api/db/monitoring/postgres';
const OPERATIONS = {
  getServerOverview: API,
  getActivity: `${API}/activity?limit=20`,
  listStatements: `${API}/statements?limit=2`,
  listIndexes: `${API}/indexes?limit=2&bloat=estimate`,
  getCache: `${API}/cache?limit=2`,
  getHistoryStatus: `${API}/history`,
  getDatabaseHistory: `${API}/history/database?window=30s&step=5s`,
  getStatementHistory: `${API}/history/statements/{queryId}?window=30s&step=5s`,
  getSizesHistory: `${API}/history/sizes?window=30s&step=5s&limit=2`,
  getLoad: `${API}/load?window=1m&step=10s&groupBy=waitEventType&limit=3`,
  getLoadTop: `${API}/load/top?window=1m&by=queryId&limit=2`,
  listLockChains: `${API}/activity/locks?window=1m&limit=2`,
  getVacuum: `${API}/vacuum?limit=2`,
  getReplication: `${API}/replication`,
  getIo: `${API}/io`,
  listChecks: `${API}/checks?status=warning`,
  listCheckEvents: `${API}/checks/events?window=1h`,
  listTargets: '/api/db/monitoring/targets',
  listInstances: '/api/db/monitoring/instances',
  getLiveness: '/health/live',
  getReadiness: '/health/ready',
};

(async () => {
  const demo = await DemoServer.start(new Logger('demo'));
  // As npm start runs it: one target, every database of the embedded server.
  // History in a directory of its own, snapshots every 5 s driven from here: the windows have deltas to show.
  const historyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-examples-history-'));
  const env = loadEnv({
    CACHE_TTL_MS: '0',
    HISTORY_DIR: historyDir,
    HISTORY_STATEMENTS_INTERVAL: '5s',
    HISTORY_DATABASE_INTERVAL: '5s',
    HISTORY_RELATIONS_INTERVAL: '5s',
    HISTORY_SIZES_INTERVAL: '5s',
    LOAD_BUCKET_SECONDS: '5',
    INSTANCE_ID: 'pgscope-a',
  });
  const targets = [targetFromUrl('demo', demo.url, env, { databases: 'all', labels: { env: 'demo' } })];
  const app = await createApp(env, { targets });
  try {
    await app.init();
    // As main.ts does: this instance takes the leases (it is alone on its store), then collects.
    const leases = app.get(Leases);
    leases.start();
    await leases.renewNow();
    await app.get(TargetRegistry).list()[0].check();
    await app.getHttpAdapter().getInstance().ready();
    const collector = app.get(HistoryCollector).now;
    // Load sampled twice a second meanwhile, for 25 s: past the demo's slow report and lock chain (every 20 s).
    const sampler = app.get(LoadSampler);
    const sampling = setInterval(() => void sampler.tick(), 500);
    try {
      for (let i = 0; i < 5; i++) {
        await collector.collectNow('demo');
        await new Promise((r) => setTimeout(r, 5000));
      }
      await collector.collectNow('demo');
      // One more sample in a later bucket writes the last one.
      await new Promise((r) => setTimeout(r, 5000));
    } finally {
      clearInterval(sampling);
    }
    await sampler.tick();
    const top = (await app.inject({ url: `${API}/statements?window=1m&limit=1` })).json().statements[0];
    // The demo stages its lock chain and slow query every 20 s: wait until the activity shows a blocked session.
    const deadline = Date.now() + 60_000;
    let activity;
    do {
      await new Promise((r) => setTimeout(r, 1000));
      activity = (await app.inject({ url: `${API}/activity?blocked=true&limit=1` })).json();
    } while (activity.sessions.length === 0 && Date.now() < deadline);
    const examples = {};
    for (const [operationId, template] of Object.entries(OPERATIONS)) {
      const url = template.replace('{queryId}', top.queryId);
      const res = await app.inject({ url });
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
      examples[operationId] = res.json();
    }
    // Three sessions, the ones in a lock chain first: the example shows blockedBy and blocking filled in.
    const chain = (s) => (s.blockedBy.length > 0 || s.blocking.length > 0 ? 0 : 1);
    examples.getActivity.sessions = examples.getActivity.sessions.sort((a, b) => chain(a) - chain(b)).slice(0, 3);
    for (const body of Object.values(examples)) {
      // Durations of the collection itself vary run to run; the recorded value is as good as any.
      if (body.meta) body.meta.cached = false;
    }
    const file = path.join(__dirname, '..', 'openapi', 'examples.json');
    fs.writeFileSync(file, `${JSON.stringify(examples, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  } finally {
    await app.close();
    await demo.stop();
    fs.rmSync(historyDir, { recursive: true, force: true });
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
