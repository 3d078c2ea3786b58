import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppError } from '../common/errors';
import { RouteTable } from './routes';

/**
 * Security headers on every response. The CSP is strict (same origin only) and still lets Swagger UI at /docs
 * work: its scripts are files served by pgscope, only its styles are inline, and it draws icons from data: URLs.
 */
export async function registerSecurityHeaders(app: NestFastifyApplication): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
      },
    },
  });
}

/**
 * Per-client (remote address) rate limit over /api and /docs, before authentication and the response cache, so
 * token guessing and floods are limited too. /health stays unlimited for orchestrators' probes. 0 turns it off.
 */
export async function registerRateLimit(
  app: NestFastifyApplication,
  perMinute: number,
  routes: RouteTable,
): Promise<void> {
  if (perMinute === 0) return;
  await app.register(rateLimit, {
    // Not per route: route hooks run after the global ones (authentication, the response cache), which would
    // let failed token guesses and cache hits go uncounted. One global hook, added before those, counts all.
    global: false,
    max: perMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(
        `More than ${context.max} requests in a minute from this client; retry in ${Math.ceil(context.ttl / 1000)} s.`,
        context.statusCode,
      ),
  });
  const fastify = app.getHttpAdapter().getInstance();
  const limit = fastify.rateLimit();
  fastify.addHook('onRequest', async (request, reply) => {
    if (routes.isProbe(request)) return;
    await limit.call(fastify, request, reply);
  });
}

class RateLimitedError extends AppError {
  constructor(
    detail: string,
    readonly statusCode: number,
  ) {
    super('RATE_LIMITED', 429, 'Too many requests', detail, 'Poll less often, or raise RATE_LIMIT_PER_MINUTE.');
  }
}
