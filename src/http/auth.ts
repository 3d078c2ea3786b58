import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../common/errors';
import { sendProblem } from './problem';
import { RouteTable } from './routes';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Bearer-token check on every route but the explicitly public ones (health probes, documentation), decided from the
 * route the router matched, never from the raw URL (`/%61pi/…` is the /api route). It runs before the response cache,
 * so a cached body is never served without a token. Tokens are compared in constant time (hashes of equal length,
 * every token tried). With no token configured it lets everything through: main.ts only allows that on a loopback
 * address.
 */
export function registerBearerAuth(
  fastify: FastifyInstance,
  tokens: string[],
  routes: RouteTable,
  metricsTokens: string[] = [],
): void {
  if (tokens.length === 0 && metricsTokens.length === 0) return;
  const api = tokens.map(digest);
  // /metrics takes either set; METRICS_TOKENS alone protects /metrics only.
  const scrape = [...tokens, ...metricsTokens].map(digest);
  fastify.addHook('onRequest', async (request, reply) => {
    if (routes.isPublic(request)) return;
    const metrics = routes.isMetrics(request);
    if (!metrics && api.length === 0) return;
    const expected = metrics ? scrape : api;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const given = digest(match?.[1] ?? '');
    let ok = false;
    for (const token of expected) ok = timingSafeEqual(token, given) || ok;
    if (ok && match) return;
    const detail = match ? 'The bearer token is not valid.' : 'This API needs an Authorization: Bearer <token> header.';
    return sendProblem(reply, new AppError('UNAUTHORIZED', 401, 'Unauthorized', detail), {
      'www-authenticate': 'Bearer realm="pgscope"',
    });
  });
}
