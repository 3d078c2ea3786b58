import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemType } from './problem';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Bearer-token check on every /api route, before the response cache (a cached body is never served without a
 * token). Tokens are compared in constant time (hashes of equal length, every token tried). /health and /docs stay
 * open. With no token configured it lets everything through: main.ts only allows that on a loopback address.
 */
export function registerBearerAuth(fastify: FastifyInstance, tokens: string[]): void {
  if (tokens.length === 0) return;
  const expected = tokens.map(digest);
  fastify.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/') && request.url !== '/api') return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const given = digest(match?.[1] ?? '');
    let ok = false;
    for (const token of expected) ok = timingSafeEqual(token, given) || ok;
    if (ok && match) return;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="pgscope"')
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .send({
        type: problemType('UNAUTHORIZED'),
        title: 'Unauthorized',
        status: 401,
        detail: match ? 'The bearer token is not valid.' : 'This API needs an Authorization: Bearer <token> header.',
        code: 'UNAUTHORIZED',
      });
  });
}
