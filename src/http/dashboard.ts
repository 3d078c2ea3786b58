import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import { sendProblem } from './problem';

/** Where `npm run build` puts the dashboard (scripts/build-web.js), from src/http or dist/http alike. */
export const DASHBOARD_DIR = path.join(__dirname, '..', '..', 'dist', 'web');

/**
 * The dashboard: its page at `/`, its script, stylesheet and icon under `/ui/` (files in the package, served by
 * @fastify/static; the CSP allows nothing else). Public like /docs: the page itself holds no data, and asks for a
 * token when the API wants one.
 */
export async function registerDashboard(fastify: FastifyInstance, dir = DASHBOARD_DIR): Promise<void> {
  if (!fs.existsSync(path.join(dir, 'index.html'))) {
    fastify.get('/', async (_request, reply) => sendProblem(reply, new DashboardMissingError()));
    return;
  }
  await fastify.register(async (instance) => {
    await instance.register(fastifyStatic, {
      root: dir,
      prefix: '/ui/',
      wildcard: false,
      index: false,
      // Not hashed names: the browser revalidates (ETag) rather than keeping a stale script.
      cacheControl: true,
      maxAge: 0,
      allowedPath: (pathname) => pathname !== '/index.html',
    });
    instance.get('/', (_request, reply) => reply.header('cache-control', 'no-cache').sendFile('index.html'));
  });
}

class DashboardMissingError extends AppError {
  constructor() {
    super(
      'NOT_FOUND',
      404,
      'Dashboard not built',
      'The dashboard has not been built in this installation (dist/web is missing).',
      'Run `npm run build` (npm start does it), or use the API at /docs.',
    );
  }
}
